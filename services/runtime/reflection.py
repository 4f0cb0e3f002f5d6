"""Server reflection, also for services another process serves.

The gateway sends every reflection request to one service, so that one
describes all the services the gateway routes (``reflect_services`` in its
settings): their descriptors come from the platform's generated descriptor
set rather than from the modules this process happens to import.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2

DESCRIPTOR_SET = Path(__file__).resolve().parents[2] / "gen" / "aiplat_descriptor.binpb"
"""Every contract of the platform with its imports, written by ``make gen``."""

HEALTH_SERVICE: str = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


def platform_pool(descriptor_set: Path = DESCRIPTOR_SET) -> descriptor_pool.DescriptorPool:
    """A pool with every platform contract, plus health and reflection themselves."""
    pool = descriptor_pool.DescriptorPool()
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    added = set()
    # protoc lists a file after its imports, so each file's dependencies are in the pool first.
    for file in files.file:
        pool.Add(file)
        added.add(file.name)
    for module in (health_pb2, reflection_pb2):
        proto = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
        if proto.name not in added:
            pool.Add(proto)
    return pool


def enable_reflection(server: Any, own_services: Iterable[str], other_services: Sequence[str]) -> None:
    """Reflection of ``own_services`` and health, and of ``other_services`` served by other processes."""
    names = [*sorted({*own_services, *other_services}), HEALTH_SERVICE, reflection.SERVICE_NAME]
    pool = platform_pool() if other_services else None
    if pool is not None:
        unknown = [name for name in other_services if not _known(pool, name)]
        if unknown:
            raise ValueError(f"reflect_services not in {DESCRIPTOR_SET.name}: {', '.join(unknown)}")
    reflection.enable_server_reflection(names, server, pool)


def _known(pool: descriptor_pool.DescriptorPool, service: str) -> bool:
    try:
        pool.FindServiceByName(service)
    except KeyError:
        return False
    return True
