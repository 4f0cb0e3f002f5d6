"""Helpers shared by the runtime tests."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from aiplat.models.v1 import registry_service_pb2_grpc
from services.runtime.server import ServiceServer


@dataclass
class RunningServer:
    """A started sample server and a client for it."""

    handle: ServiceServer
    port: int
    channel: grpc.aio.Channel
    stub: registry_service_pb2_grpc.ModelRegistryServiceStub

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying ``token``."""
    return (("authorization", f"Bearer {token}"),)
