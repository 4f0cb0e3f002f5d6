"""The gRPC servicers: protobuf request -> domain types -> core -> protobuf response.

Nothing here decides anything: validation, tenancy and errors live in the
core, and the runtime's interceptors turn domain errors into statuses.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from google.longrunning import operations_pb2
from google.protobuf import empty_pb2

from aiplat.models.v1 import (
    deployment_pb2,
    deployment_service_pb2,
    deployment_service_pb2_grpc,
    model_pb2,
    registry_service_pb2,
    registry_service_pb2_grpc,
)
from services.models import convert, convert_deployments
from services.models.lifecycle import ModelsApp
from services.runtime.auth import Role
from services.runtime.errors import InvalidArgument
from services.runtime.server import Register

REGISTRY = "aiplat.models.v1.ModelRegistryService"
DEPLOYMENTS = "aiplat.models.v1.DeploymentService"
_READS = {
    REGISTRY: [
        "GetModel",
        "ListModels",
        "GetOperation",
        "GetModelVersion",
        "ListModelVersions",
        "GetModelAlias",
        "ListModelAliases",
    ],
    DEPLOYMENTS: ["GetDeployment", "ListDeployments", "WatchDeployments", "ListAuditEvents"],
}
_WRITES = {
    REGISTRY: [
        "CreateModel",
        "UpdateModel",
        "DeleteModel",
        "UploadModelVersion",
        "ImportModelVersion",
        "UpdateModelVersion",
        "DeleteModelVersion",
        "SetModelAlias",
        "DeleteModelAlias",
    ],
    # ReportDeploymentStatus writes to the caller's own tenant; the core demands admin for another tenant.
    DEPLOYMENTS: [
        "CreateDeployment",
        "UpdateDeployment",
        "DeleteDeployment",
        "RollbackDeployment",
        "ReportDeploymentStatus",
    ],
}
METHOD_ROLES: dict[str, Role] = {
    **{f"/{service}/{method}": Role.VIEWER for service, methods in _READS.items() for method in methods},
    **{f"/{service}/{method}": Role.EDITOR for service, methods in _WRITES.items() for method in methods},
}
"""Viewers read, editors write; watching all tenants (admin) is checked by the core."""

_EMPTY = empty_pb2.Empty()


class RegistryServicer(registry_service_pb2_grpc.ModelRegistryServiceServicer):
    """aiplat.models.v1.ModelRegistryService."""

    def __init__(self, app: ModelsApp) -> None:
        self._app = app

    async def CreateModel(  # noqa: N802 - gRPC method name
        self, request: registry_service_pb2.CreateModelRequest, context: Any
    ) -> model_pb2.Model:
        model = await self._app.core.registry.create_model(request.model_id, convert.model_in(request.model))
        return convert.model_out(model)

    async def GetModel(  # noqa: N802 - gRPC method name
        self, request: registry_service_pb2.GetModelRequest, context: Any
    ) -> model_pb2.Model:
        return convert.model_out(await self._app.core.registry.get_model(request.name))

    async def ListModels(  # noqa: N802 - gRPC method name
        self, request: registry_service_pb2.ListModelsRequest, context: Any
    ) -> registry_service_pb2.ListModelsResponse:
        page = await self._app.core.registry.list_models(
            request.page_size, request.page_token, request.filter, request.order_by
        )
        return registry_service_pb2.ListModelsResponse(
            models=[convert.model_out(m) for m in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total_size or 0,
        )

    async def UpdateModel(  # noqa: N802 - gRPC method name
        self, request: registry_service_pb2.UpdateModelRequest, context: Any
    ) -> model_pb2.Model:
        model = await self._app.core.registry.update_model(
            request.model.name, convert.model_in(request.model), list(request.update_mask.paths)
        )
        return convert.model_out(model)

    async def DeleteModel(  # noqa: N802 - gRPC method name
        self, request: registry_service_pb2.DeleteModelRequest, context: Any
    ) -> empty_pb2.Empty:
        await self._app.core.registry.delete_model(request.name, force=request.force, etag=request.etag)
        return _EMPTY

    async def UploadModelVersion(  # noqa: N802 - gRPC method name
        self, request_iterator: AsyncIterator[registry_service_pb2.UploadModelVersionRequest], context: Any
    ) -> model_pb2.ModelVersion:
        messages = aiter(request_iterator)
        first = await anext(messages, None)
        if first is None or not first.HasField("metadata"):
            raise InvalidArgument.for_field("metadata", "the first message must carry the metadata")

        async def chunks() -> AsyncIterator[bytes]:
            async for message in messages:
                if message.HasField("metadata"):
                    raise InvalidArgument.for_field("metadata", "only the first message carries metadata")
                yield message.chunk

        metadata = convert.upload_metadata_in(first.metadata)
        return convert.version_out(await self._app.core.uploads.upload(metadata, chunks()))

    async def ImportModelVersion(  # noqa: N802 - gRPC method name
        self, request: registry_service_pb2.ImportModelVersionRequest, context: Any
    ) -> operations_pb2.Operation:
        operation = await self._app.core.imports.import_version(convert.import_request_in(request))
        return convert.operation_out(operation)

    async def GetOperation(  # noqa: N802 - gRPC method name
        self, request: registry_service_pb2.GetOperationRequest, context: Any
    ) -> operations_pb2.Operation:
        return convert.operation_out(await self._app.core.imports.get_operation(request.name))

    async def GetModelVersion(  # noqa: N802 - gRPC method name
        self, request: registry_service_pb2.GetModelVersionRequest, context: Any
    ) -> model_pb2.ModelVersion:
        return convert.version_out(await self._app.core.versions.get_version(request.name, request.tenant))

    async def ListModelVersions(  # noqa: N802 - gRPC method name
        self, request: registry_service_pb2.ListModelVersionsRequest, context: Any
    ) -> registry_service_pb2.ListModelVersionsResponse:
        page = await self._app.core.versions.list_versions(
            request.parent, request.page_size, request.page_token, request.filter
        )
        return registry_service_pb2.ListModelVersionsResponse(
            model_versions=[convert.version_out(v) for v in page.items], next_page_token=page.next_page_token
        )

    async def UpdateModelVersion(  # noqa: N802 - gRPC method name
        self, request: registry_service_pb2.UpdateModelVersionRequest, context: Any
    ) -> model_pb2.ModelVersion:
        version = await self._app.core.versions.update_version(
            request.model_version.name,
            convert.version_in(request.model_version),
            list(request.update_mask.paths),
        )
        return convert.version_out(version)

    async def DeleteModelVersion(  # noqa: N802 - gRPC method name
        self, request: registry_service_pb2.DeleteModelVersionRequest, context: Any
    ) -> empty_pb2.Empty:
        await self._app.core.versions.delete_version(request.name, force=request.force)
        return _EMPTY

    async def SetModelAlias(  # noqa: N802 - gRPC method name
        self, request: registry_service_pb2.SetModelAliasRequest, context: Any
    ) -> model_pb2.ModelAlias:
        alias = await self._app.core.aliases.set_alias(request.alias.name, request.alias.version)
        return convert.alias_out(alias)

    async def GetModelAlias(  # noqa: N802 - gRPC method name
        self, request: registry_service_pb2.GetModelAliasRequest, context: Any
    ) -> model_pb2.ModelAlias:
        return convert.alias_out(await self._app.core.aliases.get_alias(request.name))

    async def ListModelAliases(  # noqa: N802 - gRPC method name
        self, request: registry_service_pb2.ListModelAliasesRequest, context: Any
    ) -> registry_service_pb2.ListModelAliasesResponse:
        page = await self._app.core.aliases.list_aliases(
            request.parent, request.page_size, request.page_token
        )
        return registry_service_pb2.ListModelAliasesResponse(
            aliases=[convert.alias_out(a) for a in page.items], next_page_token=page.next_page_token
        )

    async def DeleteModelAlias(  # noqa: N802 - gRPC method name
        self, request: registry_service_pb2.DeleteModelAliasRequest, context: Any
    ) -> empty_pb2.Empty:
        await self._app.core.aliases.delete_alias(request.name)
        return _EMPTY


class DeploymentServicer(deployment_service_pb2_grpc.DeploymentServiceServicer):
    """aiplat.models.v1.DeploymentService."""

    def __init__(self, app: ModelsApp) -> None:
        self._app = app

    async def CreateDeployment(  # noqa: N802 - gRPC method name
        self, request: deployment_service_pb2.CreateDeploymentRequest, context: Any
    ) -> deployment_pb2.Deployment:
        draft = convert_deployments.deployment_in(request.deployment)
        deployment = await self._app.core.deployments.create_deployment(request.deployment_id, draft)
        return convert_deployments.deployment_out(deployment)

    async def GetDeployment(  # noqa: N802 - gRPC method name
        self, request: deployment_service_pb2.GetDeploymentRequest, context: Any
    ) -> deployment_pb2.Deployment:
        return convert_deployments.deployment_out(
            await self._app.core.deployments.get_deployment(request.name)
        )

    async def ListDeployments(  # noqa: N802 - gRPC method name
        self, request: deployment_service_pb2.ListDeploymentsRequest, context: Any
    ) -> deployment_service_pb2.ListDeploymentsResponse:
        page = await self._app.core.deployments.list_deployments(
            request.page_size, request.page_token, request.filter
        )
        return deployment_service_pb2.ListDeploymentsResponse(
            deployments=[convert_deployments.deployment_out(d) for d in page.items],
            next_page_token=page.next_page_token,
        )

    async def UpdateDeployment(  # noqa: N802 - gRPC method name
        self, request: deployment_service_pb2.UpdateDeploymentRequest, context: Any
    ) -> deployment_pb2.Deployment:
        deployment = await self._app.core.deployments.update_deployment(
            request.deployment.name,
            convert_deployments.deployment_in(request.deployment),
            list(request.update_mask.paths),
        )
        return convert_deployments.deployment_out(deployment)

    async def DeleteDeployment(  # noqa: N802 - gRPC method name
        self, request: deployment_service_pb2.DeleteDeploymentRequest, context: Any
    ) -> empty_pb2.Empty:
        await self._app.core.deployments.delete_deployment(request.name, etag=request.etag)
        return _EMPTY

    async def RollbackDeployment(  # noqa: N802 - gRPC method name
        self, request: deployment_service_pb2.RollbackDeploymentRequest, context: Any
    ) -> deployment_pb2.Deployment:
        return convert_deployments.deployment_out(
            await self._app.core.deployments.rollback_deployment(request.name, etag=request.etag)
        )

    async def WatchDeployments(  # noqa: N802 - gRPC method name
        self, request: deployment_service_pb2.WatchDeploymentsRequest, context: Any
    ) -> AsyncIterator[deployment_service_pb2.WatchDeploymentsResponse]:
        stream = self._app.core.feeds.watch(all_tenants=request.all_tenants)
        async with contextlib.aclosing(stream):
            async for event in stream:
                yield convert_deployments.watch_out(event, with_tenant=request.all_tenants)

    async def ReportDeploymentStatus(  # noqa: N802 - gRPC method name
        self, request: deployment_service_pb2.ReportDeploymentStatusRequest, context: Any
    ) -> deployment_pb2.Deployment:
        deployment = await self._app.core.deployments.report_status(
            request.name, request.tenant, convert_deployments.report_in(request)
        )
        return convert_deployments.deployment_out(deployment)

    async def ListAuditEvents(  # noqa: N802 - gRPC method name
        self, request: deployment_service_pb2.ListAuditEventsRequest, context: Any
    ) -> deployment_service_pb2.ListAuditEventsResponse:
        page = await self._app.core.feeds.list_audit_events(
            request.page_size,
            request.page_token,
            resource=request.resource,
            start_time=convert.time_in(request, "start_time"),
            end_time=convert.time_in(request, "end_time"),
        )
        return deployment_service_pb2.ListAuditEventsResponse(
            audit_events=[convert_deployments.audit_event_out(e) for e in page.items],
            next_page_token=page.next_page_token,
        )


def register(app: ModelsApp) -> Register:
    """The ``register`` callback for ``create_server``: both services over one app."""

    def add(server: Any) -> None:
        registry_service_pb2_grpc.add_ModelRegistryServiceServicer_to_server(RegistryServicer(app), server)
        deployment_service_pb2_grpc.add_DeploymentServiceServicer_to_server(DeploymentServicer(app), server)

    return add
