"""The Open Inference Protocol servicer: protobuf in, the core's types to the repository, protobuf out.

``model_name`` is a deployment's name in the caller's tenant (another
tenant's deployments do not exist for the caller: NOT_FOUND; one of the
caller's that this server has no version of loaded yet is UNAVAILABLE
``MODEL_NOT_READY``, which the gateway retries on another server);
``model_version`` pins one version and bypasses the traffic split.  The
repository's methods (``RepositoryModelLoad``/``Unload``) act on deployments
on this server only; see :mod:`.controller`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

import grpc
from google.protobuf.message import DecodeError
from opentelemetry import trace

from inference import grpc_service_pb2 as pb
from inference import grpc_service_pb2_grpc as pb_grpc
from services.inference import convert, convert_models
from services.inference.controller import DeploymentController
from services.inference.errors import ModelNotFound, ModelNotReady, VersionNotFound
from services.inference.repository import ModelRepository
from services.inference.telemetry import InferenceTelemetry
from services.inference.version import InferenceResult, LoadedVersion
from services.runtime.auth import Role, current_identity
from services.runtime.errors import DomainError, InvalidArgument
from services.runtime.server import Register
from services.runtime.transport.errors import INTERNAL_MESSAGE

__all__ = [
    "EXTENSIONS",
    "HOT_METHODS",
    "METHOD_ROLES",
    "PUBLIC_METHODS",
    "SERVER_NAME",
    "InferenceServicer",
    "register",
]

_log = logging.getLogger(__name__)

SERVICE = "inference.GRPCInferenceService"
SERVER_NAME = "aiplat-inference"
EXTENSIONS = ("model_repository", "model_configuration", "statistics")
"""Triton's names of the protocol extensions served: repository index/load/unload, ModelConfig, statistics."""

_EDITS = ("RepositoryModelLoad", "RepositoryModelUnload")
_READS = (
    "ModelReady",
    "ModelMetadata",
    "ModelInfer",
    "ModelStreamInfer",
    "ModelConfig",
    "ModelStatistics",
    "RepositoryIndex",
)
METHOD_ROLES: dict[str, Role] = {
    **{f"/{SERVICE}/{method}": Role.VIEWER for method in _READS},
    **{f"/{SERVICE}/{method}": Role.EDITOR for method in _EDITS},
}
"""Viewers read and infer; editors load and unload."""

PUBLIC_METHODS = tuple(f"/{SERVICE}/{method}" for method in ("ServerLive", "ServerReady", "ServerMetadata"))
"""Callable without a token, as the gateway serves them: health and server metadata, which the protocol's
clients ask before anything else, and which say nothing about any tenant."""

HOT_METHODS = (f"/{SERVICE}/ModelInfer",)
"""Called at high rates: traced only while spans are exported (see ``create_server``)."""

NAME_REQUIRED = "MODEL_NAME_REQUIRED"
"""Reason of the INVALID_ARGUMENT for a call that names no model."""

MALFORMED_REQUEST = "MALFORMED_REQUEST"
"""Reason of the error answering a streamed message that does not parse."""

_STREAM_WINDOW = 64
"""Requests of one ModelStreamInfer stream in flight at once (answered in order)."""


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """inference.GRPCInferenceService over one repository."""

    def __init__(
        self,
        repository: ModelRepository,
        controller: DeploymentController,
        telemetry: InferenceTelemetry,
        *,
        version: str,
    ) -> None:
        self._repository = repository
        self._controller = controller
        self._telemetry = telemetry
        self._version = version

    def _trace_context(self) -> object:
        # Only worth carrying into the batch when its spans are exported.
        return trace.get_current_span().get_span_context() if self._telemetry.tracing else None

    async def _infer(self, request: pb.ModelInferRequest, context: Any, tenant: str) -> InferenceResult:
        arrival = time.monotonic_ns()
        _require_model_name(request.model_name)
        trace_context = self._trace_context()
        try:
            inputs = convert.request_inputs(request)
        except InvalidArgument as error:
            # Counted as the version's validator counts what it rejects: Triton counts every failed
            # request of a model it serves.
            self._repository.reject(
                request.model_name,
                request.model_version,
                error,
                tenant=tenant,
                arrival_ns=arrival,
                context=trace_context,
            )
            raise
        remaining = context.time_remaining()
        try:
            return await self._repository.infer(
                request.model_name,
                request.model_version,
                inputs,
                convert.requested_outputs(request),
                tenant=tenant,
                deadline=None if remaining is None else time.monotonic() + remaining,
                context=trace_context,
                arrival_ns=arrival,
            )
        except ModelNotFound:
            self._raise_if_not_ready(tenant, request.model_name)
            raise

    async def ModelInfer(  # noqa: N802 - gRPC method name
        self, request: pb.ModelInferRequest, context: Any
    ) -> pb.ModelInferResponse:
        result = await self._infer(request, context, current_identity().tenant)
        return convert.infer_response(result, request.id)

    async def ModelStreamInfer(  # type: ignore[override]  # noqa: N802 - registered taking bytes
        self, request_iterator: AsyncIterator[bytes], context: Any
    ) -> AsyncIterator[pb.ModelStreamInferResponse]:
        """Messages arrive unparsed (see :func:`register`), so that one that does not parse is a
        failed request, answered in its turn, rather than the end of the stream."""
        # Requests run concurrently (so they can share batches) and are answered in order;
        # a failed request is answered with its error and the stream goes on.
        tenant = current_identity().tenant
        window = asyncio.Semaphore(_STREAM_WINDOW)
        queue: asyncio.Queue[asyncio.Future[pb.ModelStreamInferResponse] | None] = asyncio.Queue()

        async def read() -> None:
            try:
                async for message in request_iterator:
                    await window.acquire()
                    queue.put_nowait(self._stream_answer(message, context, tenant))
            finally:
                queue.put_nowait(None)

        reader = asyncio.create_task(read())
        try:
            while (answer := await queue.get()) is not None:
                response = await answer
                window.release()
                yield response
            await reader
        finally:
            reader.cancel()
            while not queue.empty():
                if (left := queue.get_nowait()) is not None:
                    left.cancel()

    def _stream_answer(
        self, message: bytes, context: Any, tenant: str
    ) -> asyncio.Future[pb.ModelStreamInferResponse]:
        try:
            request = pb.ModelInferRequest.FromString(message)
        except DecodeError as error:  # corrupt wire format, or invalid UTF-8 in a string field
            answer: asyncio.Future[pb.ModelStreamInferResponse] = asyncio.get_running_loop().create_future()
            answer.set_result(convert.stream_error(_UNREAD, _malformed(error)))
            return answer
        return asyncio.ensure_future(self._stream_one(request, context, tenant))

    async def _stream_one(
        self, request: pb.ModelInferRequest, context: Any, tenant: str
    ) -> pb.ModelStreamInferResponse:
        try:
            result = await self._infer(request, context, tenant)
        except DomainError as error:
            return convert.stream_error(request, error)
        except Exception as error:
            _log.error("a streamed inference failed unexpectedly", exc_info=error)
            return convert.stream_error(request, DomainError(INTERNAL_MESSAGE, reason="INTERNAL"))
        return pb.ModelStreamInferResponse(infer_response=convert.infer_response(result, request.id))

    async def ServerLive(  # noqa: N802 - gRPC method name
        self, request: pb.ServerLiveRequest, context: Any
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(  # noqa: N802 - gRPC method name
        self, request: pb.ServerReadyRequest, context: Any
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self._controller.synced.is_set())

    async def ServerMetadata(  # noqa: N802 - gRPC method name
        self, request: pb.ServerMetadataRequest, context: Any
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=self._version, extensions=EXTENSIONS)

    async def ModelReady(  # noqa: N802 - gRPC method name
        self, request: pb.ModelReadyRequest, context: Any
    ) -> pb.ModelReadyResponse:
        try:
            self._version_of(request.name, request.version)
        except (ModelNotFound, ModelNotReady, VersionNotFound):
            return pb.ModelReadyResponse(ready=False)
        return pb.ModelReadyResponse(ready=True)

    async def ModelMetadata(  # noqa: N802 - gRPC method name
        self, request: pb.ModelMetadataRequest, context: Any
    ) -> pb.ModelMetadataResponse:
        shown = self._version_of(request.name, request.version)
        versions = self._versions(request.name, current_identity().tenant)
        return convert_models.model_metadata(request.name, versions, shown)

    async def ModelConfig(  # noqa: N802 - gRPC method name
        self, request: pb.ModelConfigRequest, context: Any
    ) -> pb.ModelConfigResponse:
        shown = self._version_of(request.name, request.version)
        return pb.ModelConfigResponse(config=convert_models.model_config(shown))

    async def ModelStatistics(  # noqa: N802 - gRPC method name
        self, request: pb.ModelStatisticsRequest, context: Any
    ) -> pb.ModelStatisticsResponse:
        tenant = current_identity().tenant
        if request.name:
            versions = self._versions(request.name, tenant)
            if request.version:
                versions = [self._version_of(request.name, request.version)]
        else:
            versions = [v for owner, v in self._repository.loaded() if owner == tenant]
        return pb.ModelStatisticsResponse(
            model_stats=[convert_models.model_statistics(v.model, v.version, v.stats) for v in versions]
        )

    async def RepositoryIndex(  # noqa: N802 - gRPC method name
        self, request: pb.RepositoryIndexRequest, context: Any
    ) -> pb.RepositoryIndexResponse:
        entries = self._controller.index(current_identity().tenant)
        if request.ready:
            entries = [entry for entry in entries if entry.state == "READY"]
        return convert_models.repository_index(entries)

    async def RepositoryModelLoad(  # noqa: N802 - gRPC method name
        self, request: pb.RepositoryModelLoadRequest, context: Any
    ) -> pb.RepositoryModelLoadResponse:
        _require_model_name(request.model_name)
        await self._controller.load(current_identity().tenant, request.model_name)
        return pb.RepositoryModelLoadResponse()

    async def RepositoryModelUnload(  # noqa: N802 - gRPC method name
        self, request: pb.RepositoryModelUnloadRequest, context: Any
    ) -> pb.RepositoryModelUnloadResponse:
        _require_model_name(request.model_name)
        await self._controller.unload(current_identity().tenant, request.model_name)
        return pb.RepositoryModelUnloadResponse()

    def _version_of(self, model_name: str, model_version: str) -> LoadedVersion:
        """The pinned version, or the deployment's first (never a pick: that would shift the split)."""
        _require_model_name(model_name, "name")
        tenant = current_identity().tenant
        if model_version:
            try:
                return self._repository.route(model_name, model_version, tenant=tenant)
            except ModelNotFound:
                self._raise_if_not_ready(tenant, model_name)
                raise
        return self._versions(model_name, tenant)[0]

    def _versions(self, model_name: str, tenant: str) -> list[LoadedVersion]:
        try:
            return self._repository.versions(model_name, tenant=tenant)
        except ModelNotFound:
            self._raise_if_not_ready(tenant, model_name)
            raise

    def _raise_if_not_ready(self, tenant: str, model_name: str) -> None:
        """A deployment this server should serve but has no version of loaded yet is UNAVAILABLE
        (the gateway retries it on another server), not NOT_FOUND."""
        if self._controller.wanted_here(tenant, model_name):
            raise ModelNotReady(model_name) from None


_UNREAD = pb.ModelInferRequest()
"""Stands in for a streamed message that did not parse: its answer can name no model and no id."""


def _malformed(error: DecodeError) -> InvalidArgument:
    # The reason a unary call gets for a message that does not parse (see services.runtime.transport).
    return InvalidArgument(f"the request message does not parse: {error}", reason=MALFORMED_REQUEST)


def _require_model_name(model_name: str, field: str = "model_name") -> None:
    """INVALID_ARGUMENT naming ``field`` (the request's name for it) when no model is named."""
    if not model_name:
        raise InvalidArgument.for_field(field, "is required", reason=NAME_REQUIRED)


def register(servicer: InferenceServicer) -> Register:
    """The ``register`` callback for ``create_server``.

    The generated handlers, but for ModelStreamInfer, which takes its messages as bytes and parses
    them itself: grpc parses a stream's messages outside the handler, where a message that does not
    parse can only end the whole stream, while the protocol answers a bad request on a stream and
    goes on.
    """

    def add(server: Any) -> None:
        generated = _Handlers()
        # It calls nothing of a server but the two methods _Handlers has.
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, cast(grpc.aio.Server, generated))
        handlers = dict(generated.handlers)
        handlers["ModelStreamInfer"] = grpc.stream_stream_rpc_method_handler(
            servicer.ModelStreamInfer,
            request_deserializer=None,
            response_serializer=pb.ModelStreamInferResponse.SerializeToString,
        )
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        server.add_registered_method_handlers(SERVICE, handlers)

    return add


class _Handlers:
    """Takes the place of the server for the generated ``add_*_to_server``, to keep its handlers."""

    def __init__(self) -> None:
        self.handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def add_generic_rpc_handlers(self, handlers: object) -> None:
        pass  # the same handlers come again by name, below

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        self.handlers = handlers
