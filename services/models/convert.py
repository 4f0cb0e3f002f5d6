"""Protobuf messages to domain types and back: registry messages, and the helpers all conversions share.

Enums convert by name (``MODEL_TASK_IMAGE`` <-> ``ModelTask.IMAGE``); a
number the contract does not define is INVALID_ARGUMENT naming the field.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.longrunning import operations_pb2
from google.protobuf import any_pb2, timestamp_pb2
from google.rpc import error_details_pb2, status_pb2

from aiplat.models.v1 import deployment_pb2, deployment_service_pb2, model_pb2, registry_service_pb2
from services.models import names
from services.models.domain import (
    ImportOperation,
    Model,
    ModelAlias,
    ModelVersion,
    TensorSignature,
    VersionFields,
)
from services.models.enums import (
    ArtifactFormat,
    AuditAction,
    DeploymentState,
    ExecutionDevice,
    ModelTask,
    PixelLayout,
    ResizeInterpolation,
    TensorType,
    VersionState,
    WatchEventType,
)
from services.models.imports import ImportRequest
from services.models.uploads import UploadMetadata
from services.runtime.errors import ERROR_DOMAIN, InvalidArgument

E = TypeVar("E", bound=enum.Enum)

# Every domain enum with its protobuf enum and value-name prefix; a test checks they match member for member.
ENUMS: tuple[tuple[type[enum.Enum], Any, str], ...] = (
    (ModelTask, model_pb2.ModelTask, "MODEL_TASK_"),
    (ArtifactFormat, model_pb2.ArtifactFormat, "ARTIFACT_FORMAT_"),
    (VersionState, model_pb2.ModelVersionState, "MODEL_VERSION_STATE_"),
    (TensorType, model_pb2.TensorDataType, "TENSOR_DATA_TYPE_"),
    (ExecutionDevice, deployment_pb2.ExecutionDevice, "EXECUTION_DEVICE_"),
    (DeploymentState, deployment_pb2.DeploymentState, "DEPLOYMENT_STATE_"),
    (PixelLayout, deployment_pb2.PixelLayout, "PIXEL_LAYOUT_"),
    (ResizeInterpolation, deployment_pb2.ResizeInterpolation, "RESIZE_INTERPOLATION_"),
    (AuditAction, deployment_pb2.AuditAction, "AUDIT_ACTION_"),
    (WatchEventType, deployment_service_pb2.WatchEventType, "WATCH_EVENT_TYPE_"),
)


def enum_in(wrapper: Any, prefix: str, value: int, domain: type[E], field: str) -> E:
    """The domain member for a protobuf enum number."""
    try:
        name: str = wrapper.Name(value)
    except ValueError:
        raise InvalidArgument.for_field(field, f"{value} is not a defined value") from None
    return domain[name.removeprefix(prefix)]


def enum_out(prefix: str, member: enum.Enum) -> str:
    """The protobuf enum value name of a domain member (message constructors accept names)."""
    return prefix + member.name


def time_out(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def time_in(message: Any, field: str, path: str = "") -> datetime | None:
    """The timestamp in ``message.<field>``, or None when it is not set; ``path`` names the field in
    the request (default: ``field``)."""
    if not message.HasField(field):
        return None
    stamp: timestamp_pb2.Timestamp = getattr(message, field)
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument.for_field(
            path or field, "must be a valid time from 0001-01-01 to 9999-12-31, nanos 0 to 999999999"
        ) from None


def model_in(message: model_pb2.Model, field: str = "model") -> Model:
    task = enum_in(model_pb2.ModelTask, "MODEL_TASK_", message.task, ModelTask, f"{field}.task")
    return Model(
        model_id="",
        display_name=message.display_name,
        description=message.description,
        labels=dict(message.labels),
        task=task,
        etag=message.etag,
    )


def model_out(model: Model) -> model_pb2.Model:
    return model_pb2.Model(
        name=names.model_name(model.model_id),
        display_name=model.display_name,
        description=model.description,
        labels=dict(model.labels),
        task=enum_out("MODEL_TASK_", model.task),
        latest_version_id="" if model.latest_version is None else str(model.latest_version),
        create_time=time_out(model.create_time),
        update_time=time_out(model.update_time),
        etag=model.etag,
    )


def _signature_out(signature: TensorSignature) -> model_pb2.TensorSignature:
    return model_pb2.TensorSignature(
        name=signature.name,
        data_type=enum_out("TENSOR_DATA_TYPE_", signature.data_type),
        dims=list(signature.dims),
    )


def version_in(message: model_pb2.ModelVersion, field: str = "model_version") -> ModelVersion:
    """The client-settable fields of a version (for updates)."""
    state = enum_in(
        model_pb2.ModelVersionState, "MODEL_VERSION_STATE_", message.state, VersionState, f"{field}.state"
    )
    return ModelVersion(
        model_id="",
        version=0,
        description=message.description,
        labels=dict(message.labels),
        metrics=dict(message.metrics),
        state=state,
    )


def version_fields_in(message: model_pb2.ModelVersion) -> VersionFields:
    return VersionFields(
        description=message.description,
        labels=dict(message.labels),
        metrics=dict(message.metrics),
        source_training_job=message.source_training_job,
    )


def version_out(version: ModelVersion) -> model_pb2.ModelVersion:
    return model_pb2.ModelVersion(
        name=names.version_name(version.model_id, version.version),
        description=version.description,
        artifact_uri=version.artifact_uri,
        sha256=version.sha256,
        size_bytes=version.size_bytes,
        format=enum_out("ARTIFACT_FORMAT_", version.format),
        onnx_opset=version.onnx_opset,
        inputs=[_signature_out(s) for s in version.inputs],
        outputs=[_signature_out(s) for s in version.outputs],
        metrics=dict(version.metrics),
        source_training_job=version.source_training_job,
        state=enum_out("MODEL_VERSION_STATE_", version.state),
        state_message=version.state_message,
        labels=dict(version.labels),
        aliases=list(version.aliases),
        creator=version.creator,
        create_time=time_out(version.create_time),
        update_time=time_out(version.update_time),
    )


def alias_out(alias: ModelAlias) -> model_pb2.ModelAlias:
    return model_pb2.ModelAlias(
        name=names.alias_name(alias.model_id, alias.alias),
        version=names.version_name(alias.model_id, alias.version),
        update_time=time_out(alias.update_time),
        updater=alias.updater,
    )


def upload_metadata_in(message: registry_service_pb2.UploadModelVersionMetadata) -> UploadMetadata:
    return UploadMetadata(
        parent=message.parent,
        sha256=message.sha256,
        size_bytes=message.size_bytes,
        fields=version_fields_in(message.model_version),
    )


def import_request_in(message: registry_service_pb2.ImportModelVersionRequest) -> ImportRequest:
    version = message.model_version
    return ImportRequest(
        parent=message.parent,
        artifact_uri=version.artifact_uri,
        sha256=version.sha256,
        format=enum_in(
            model_pb2.ArtifactFormat,
            "ARTIFACT_FORMAT_",
            version.format,
            ArtifactFormat,
            "model_version.format",
        ),
        size_bytes=version.size_bytes,
        fields=version_fields_in(version),
    )


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def operation_out(operation: ImportOperation) -> operations_pb2.Operation:
    metadata = model_pb2.ImportModelVersionMetadata(
        version=names.version_name(operation.model_id, operation.version),
        bytes_copied=operation.bytes_copied,
        start_time=time_out(operation.start_time),
    )
    message = operations_pb2.Operation(
        name=names.operation_name(operation.model_id, operation.operation_id),
        metadata=_pack(metadata),
        done=operation.done,
    )
    if operation.error is not None:
        info = error_details_pb2.ErrorInfo(reason=operation.error.reason, domain=ERROR_DOMAIN)
        message.error.CopyFrom(
            status_pb2.Status(
                code=operation.error.code, message=operation.error.message, details=[_pack(info)]
            )
        )
    elif operation.result is not None:
        message.response.CopyFrom(_pack(version_out(operation.result)))
    return message
