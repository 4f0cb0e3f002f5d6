"""What the gRPC tests of every service share: call metadata, a failed call's error details, reflection."""

from __future__ import annotations

import grpc
from google.protobuf import descriptor, descriptor_pool
from google.rpc import error_details_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from grpc_status import rpc_status

Metadata = tuple[tuple[str, str], ...]
"""The metadata of one call, e.g. ``(("authorization", "Bearer ..."),)``."""


def error_details(error: grpc.aio.AioRpcError) -> tuple[str, list[str]]:
    """The ErrorInfo reason and the BadRequest field paths of a failed call."""
    status = rpc_status.from_call(error)
    assert status is not None, f"no google.rpc.Status details on {error.code()}: {error.details()}"
    reason, fields = "", []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = [violation.field for violation in bad.field_violations]
    return reason, fields


def reflect(channel: grpc.Channel, service: str) -> tuple[list[str], descriptor.ServiceDescriptor]:
    """The services a server lists through reflection, and ``service`` resolved as grpcurl does."""
    database = ProtoReflectionDescriptorDatabase(channel)
    services = list(database.get_services())
    return services, descriptor_pool.DescriptorPool(database).FindServiceByName(service)
