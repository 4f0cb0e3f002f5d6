"""Helpers of the gRPC tests: a running server's stubs, and reading error details."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from aiplat.models.v1 import deployment_service_pb2_grpc, registry_service_pb2_grpc
from services.models.core import ModelsCore

Metadata = tuple[tuple[str, str], ...]


@dataclass
class Running:
    """A started server's core (to inspect the store) and stubs for both services."""

    core: ModelsCore
    channel: grpc.aio.Channel
    registry: registry_service_pb2_grpc.ModelRegistryServiceStub = field(init=False)
    deployments: deployment_service_pb2_grpc.DeploymentServiceStub = field(init=False)

    def __post_init__(self) -> None:
        self.registry = registry_service_pb2_grpc.ModelRegistryServiceStub(self.channel)
        self.deployments = deployment_service_pb2_grpc.DeploymentServiceStub(self.channel)


def details(error: grpc.aio.AioRpcError) -> tuple[str, list[str]]:
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
