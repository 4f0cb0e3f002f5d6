"""A small ModelRegistryService used by the runtime tests, in-process and as a subprocess.

Run as a script it is a complete service process built with ``run_service``
(``python tests/runtime/sample_service.py``, configured by ``AIPLAT_SAMPLE_*``).
Model names select behaviours: ``models/missing...`` is NOT_FOUND,
``models/boom`` raises an unexpected exception, ``models/slow`` sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from pydantic_settings import SettingsConfigDict

from aiplat.models.v1 import model_pb2, registry_service_pb2, registry_service_pb2_grpc
from services.runtime.auth import Role, current_identity
from services.runtime.errors import FieldViolation, InvalidArgument, NotFound
from services.runtime.server import Register, ServiceOptions, run_service
from services.runtime.settings import ServiceSettings

_log = logging.getLogger(__name__)

SERVICE = "aiplat.models.v1.ModelRegistryService"
METHOD_ROLES = {
    f"/{SERVICE}/GetModel": Role.VIEWER,
    f"/{SERVICE}/CreateModel": Role.EDITOR,
    f"/{SERVICE}/UploadModelVersion": Role.EDITOR,
}
_MODEL_ID = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


class SampleSettings(ServiceSettings):
    """Settings of the sample service."""

    model_config = SettingsConfigDict(env_prefix="AIPLAT_SAMPLE_")

    slow_seconds: float = 0.5
    """How long ``models/slow`` takes."""


class SampleServicer(registry_service_pb2_grpc.ModelRegistryServiceServicer):
    """Implements GetModel, CreateModel and UploadModelVersion; the rest stays UNIMPLEMENTED."""

    def __init__(self, slow_seconds: float = 0.5) -> None:
        self.slow_seconds = slow_seconds

    async def GetModel(  # noqa: N802 - gRPC method name
        self, request: registry_service_pb2.GetModelRequest, context: Any
    ) -> model_pb2.Model:
        identity = current_identity()
        if request.name.startswith("models/missing"):
            raise NotFound(
                f"{request.name} does not exist", reason="MODEL_NOT_FOUND", metadata={"name": request.name}
            )
        if request.name == "models/boom":
            raise RuntimeError("connection string postgresql://admin:hunter2@db leaked")
        if request.name == "models/slow":
            _log.info("slow call started", extra={"event": "slow_call_started"})
            await asyncio.sleep(self.slow_seconds)
        # The caller's identity as the core sees it, for the tests to check.
        return model_pb2.Model(name=request.name, display_name=f"{identity.tenant}/{identity.subject}")

    async def CreateModel(  # noqa: N802 - gRPC method name
        self, request: registry_service_pb2.CreateModelRequest, context: Any
    ) -> model_pb2.Model:
        violations = []
        if not _MODEL_ID.fullmatch(request.model_id):
            violations.append(FieldViolation("model_id", "1-63 lower-case letters, digits and hyphens"))
        if not request.model.display_name:
            violations.append(FieldViolation("model.display_name", "required", reason="REQUIRED_FIELD"))
        violations += [
            FieldViolation(f"model.labels[{key!r}]", f"{key!r} is not a valid label key")
            for key in request.model.labels
            if not _MODEL_ID.fullmatch(key)
        ]
        if violations:
            raise InvalidArgument("the model is invalid", violations=violations, reason="MODEL_INVALID")
        return model_pb2.Model(name=f"models/{request.model_id}", display_name=request.model.display_name)

    async def UploadModelVersion(  # noqa: N802 - gRPC method name
        self, request_iterator: AsyncIterator[registry_service_pb2.UploadModelVersionRequest], context: Any
    ) -> model_pb2.ModelVersion:
        parent = ""
        size = 0
        async for message in request_iterator:
            if message.HasField("metadata"):
                parent = message.metadata.parent
            else:
                size += len(message.chunk)
        if not parent:
            raise InvalidArgument.for_field("metadata.parent", "the first message must carry the metadata")
        return model_pb2.ModelVersion(name=f"{parent}/versions/1", description=f"{size} bytes")


def register_sample(servicer: SampleServicer) -> Register:
    """The ``register`` callback adding ``servicer``."""
    return partial(registry_service_pb2_grpc.add_ModelRegistryServiceServicer_to_server, servicer)


def main() -> None:
    """Run the sample service until SIGTERM."""
    settings = SampleSettings()
    run_service(
        "sample",
        settings,
        register_sample(SampleServicer(settings.slow_seconds)),
        ServiceOptions(method_roles=METHOD_ROLES),
    )


if __name__ == "__main__":
    main()
