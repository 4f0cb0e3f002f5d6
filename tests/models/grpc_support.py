"""Helpers of the gRPC tests: a running server's core and stubs (see ``tests.grpc_helpers`` for the rest)."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc

from aiplat.models.v1 import deployment_service_pb2_grpc, registry_service_pb2_grpc
from services.models.core import ModelsCore


@dataclass
class Running:
    """A started server's core (to inspect the store) and stubs for both services."""

    core: ModelsCore
    channel: grpc.aio.Channel
    address: str
    registry: registry_service_pb2_grpc.ModelRegistryServiceStub = field(init=False)
    deployments: deployment_service_pb2_grpc.DeploymentServiceStub = field(init=False)

    def __post_init__(self) -> None:
        self.registry = registry_service_pb2_grpc.ModelRegistryServiceStub(self.channel)
        self.deployments = deployment_service_pb2_grpc.DeploymentServiceStub(self.channel)
