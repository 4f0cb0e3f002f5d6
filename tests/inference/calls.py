"""What clients of the two services send and read: model management as an editor, inference requests."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
import numpy as np
from google.protobuf import field_mask_pb2

from aiplat.models.v1 import (
    deployment_pb2,
    deployment_service_pb2,
    deployment_service_pb2_grpc,
    model_pb2,
    registry_service_pb2,
    registry_service_pb2_grpc,
)
from inference import grpc_service_pb2 as pb
from services.runtime.devkeys import DevKeys, mint_token
from tests.grpc_helpers import Metadata

DEPLOYMENT = deployment_service_pb2


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


def auth(keys: DevKeys, tenant: str, *roles: str, subject: str = "alice") -> Metadata:
    return bearer(mint_token(keys, subject=subject, tenant=tenant, roles=roles or ("editor",)))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "") -> None:
    """Wait until ``check()`` holds, polling briefly."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what or check}"
        await asyncio.sleep(0.02)


async def at_least(value: int, floor: int) -> bool:
    """A check for :func:`eventually` on a counter read when the lambda runs."""
    return value >= floor


class Models:
    """Model management as an editor of one tenant uses it."""

    def __init__(self, channel: grpc.aio.Channel, metadata: Metadata) -> None:
        self.registry = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        self.deployments = deployment_service_pb2_grpc.DeploymentServiceStub(channel)
        self.metadata = metadata

    async def create_model(self, model_id: str) -> None:
        request = registry_service_pb2.CreateModelRequest(model_id=model_id, model=model_pb2.Model())
        await self.registry.CreateModel(request, metadata=self.metadata)

    async def upload(self, model_id: str, data: bytes) -> str:
        """Upload a version; returns its name."""
        metadata = registry_service_pb2.UploadModelVersionMetadata(
            parent=f"models/{model_id}", sha256=sha256(data), size_bytes=len(data)
        )

        async def messages() -> Any:
            yield registry_service_pb2.UploadModelVersionRequest(metadata=metadata)
            for start in range(0, len(data), 1 << 20):
                yield registry_service_pb2.UploadModelVersionRequest(chunk=data[start : start + (1 << 20)])

        version = await self.registry.UploadModelVersion(messages(), metadata=self.metadata)
        return version.name

    async def set_alias(self, model_id: str, alias: str, version: str) -> None:
        request = registry_service_pb2.SetModelAliasRequest(
            alias=model_pb2.ModelAlias(name=f"models/{model_id}/aliases/{alias}", version=version)
        )
        await self.registry.SetModelAlias(request, metadata=self.metadata)

    async def alias(self, model_id: str, alias: str) -> str:
        request = registry_service_pb2.GetModelAliasRequest(name=f"models/{model_id}/aliases/{alias}")
        return (await self.registry.GetModelAlias(request, metadata=self.metadata)).version

    async def deploy(
        self, deployment_id: str, model_id: str, split: Sequence[tuple[str, int]], **fields: Any
    ) -> deployment_pb2.Deployment:
        deployment = deployment_pb2.Deployment(model=f"models/{model_id}", traffic=_traffic(split), **fields)
        request = DEPLOYMENT.CreateDeploymentRequest(deployment=deployment, deployment_id=deployment_id)
        return await self.deployments.CreateDeployment(request, metadata=self.metadata)

    async def set_traffic(
        self, deployment_id: str, split: Sequence[tuple[str, int]]
    ) -> deployment_pb2.Deployment:
        deployment = deployment_pb2.Deployment(name=f"deployments/{deployment_id}", traffic=_traffic(split))
        request = DEPLOYMENT.UpdateDeploymentRequest(
            deployment=deployment, update_mask=field_mask_pb2.FieldMask(paths=["traffic"])
        )
        return await self.deployments.UpdateDeployment(request, metadata=self.metadata)

    async def update(self, deployment_id: str, **fields: Any) -> deployment_pb2.Deployment:
        """Change the named fields of the deployment's spec."""
        deployment = deployment_pb2.Deployment(name=f"deployments/{deployment_id}", **fields)
        request = DEPLOYMENT.UpdateDeploymentRequest(
            deployment=deployment, update_mask=field_mask_pb2.FieldMask(paths=list(fields))
        )
        return await self.deployments.UpdateDeployment(request, metadata=self.metadata)

    async def rollback(self, deployment_id: str) -> deployment_pb2.Deployment:
        request = DEPLOYMENT.RollbackDeploymentRequest(name=f"deployments/{deployment_id}")
        return await self.deployments.RollbackDeployment(request, metadata=self.metadata)

    async def delete(self, deployment_id: str) -> None:
        request = DEPLOYMENT.DeleteDeploymentRequest(name=f"deployments/{deployment_id}")
        await self.deployments.DeleteDeployment(request, metadata=self.metadata)

    async def get(self, deployment_id: str) -> deployment_pb2.Deployment:
        request = DEPLOYMENT.GetDeploymentRequest(name=f"deployments/{deployment_id}")
        return await self.deployments.GetDeployment(request, metadata=self.metadata)

    async def wait_state(
        self, deployment_id: str, state: int, *, generation: int = 0, timeout: float = 15.0
    ) -> deployment_pb2.Deployment:
        """Wait until the deployment reports ``state`` (for ``generation`` or later)."""
        found: list[deployment_pb2.Deployment] = []

        async def reached() -> bool:
            deployment = await self.get(deployment_id)
            found[:] = [deployment]
            return deployment.state == state and deployment.generation >= generation

        await eventually(reached, timeout, f"{deployment_id} in state {state}")
        return found[0]


def _traffic(split: Sequence[tuple[str, int]]) -> list[deployment_pb2.TrafficTarget]:
    return [deployment_pb2.TrafficTarget(version=version, percent=percent) for version, percent in split]


def infer_request(
    model: str,
    inputs: dict[str, np.ndarray],
    *,
    version: str = "",
    outputs: Sequence[str] = (),
    request_id: str = "",
) -> pb.ModelInferRequest:
    """A request carrying ``inputs`` as raw contents (as Triton's clients send them)."""
    return pb.ModelInferRequest(
        model_name=model,
        model_version=version,
        id=request_id,
        inputs=[
            pb.ModelInferRequest.InferInputTensor(name=name, datatype="FP32", shape=array.shape)
            for name, array in inputs.items()
        ],
        outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name=name) for name in outputs],
        raw_input_contents=[
            np.ascontiguousarray(array, dtype=np.float32).tobytes() for array in inputs.values()
        ],
    )


def output(response: pb.ModelInferResponse, name: str) -> np.ndarray:
    """One output of a response, decoded from its raw contents."""
    for index, tensor in enumerate(response.outputs):
        if tensor.name == name:
            assert tensor.datatype == "FP32"
            return np.frombuffer(response.raw_output_contents[index], dtype=np.float32).reshape(
                tuple(tensor.shape)
            )
    raise AssertionError(f"no output {name!r} in {[t.name for t in response.outputs]}")
