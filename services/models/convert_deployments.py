"""Protobuf messages to domain types and back: deployments, status reports, watch events, audit events."""

from __future__ import annotations

from aiplat.models.v1 import deployment_pb2, deployment_service_pb2, model_pb2
from services.models import names
from services.models.convert import enum_in, enum_out, time_in, time_out
from services.models.domain import (
    AuditEvent,
    Batching,
    Condition,
    Deployment,
    DeploymentDraft,
    Execution,
    LoadedVersion,
    Preprocessing,
    StatusReport,
    TrafficInput,
    WatchEvent,
)
from services.models.enums import (
    ExecutionDevice,
    PixelLayout,
    ResizeInterpolation,
    TensorType,
    WatchEventType,
)


def _preprocessing_in(message: deployment_pb2.PreprocessingConfig, field: str) -> Preprocessing:
    layout = deployment_pb2.PixelLayout
    return Preprocessing(
        input=message.input,
        source_layout=enum_in(
            layout, "PIXEL_LAYOUT_", message.source_layout, PixelLayout, f"{field}.source_layout"
        ),
        target_layout=enum_in(
            layout, "PIXEL_LAYOUT_", message.target_layout, PixelLayout, f"{field}.target_layout"
        ),
        resize_height=message.resize_height,
        resize_width=message.resize_width,
        interpolation=enum_in(
            deployment_pb2.ResizeInterpolation,
            "RESIZE_INTERPOLATION_",
            message.interpolation,
            ResizeInterpolation,
            f"{field}.interpolation",
        ),
        scale=message.scale,
        means=tuple(message.means),
        stds=tuple(message.stds),
        target_data_type=enum_in(
            model_pb2.TensorDataType,
            "TENSOR_DATA_TYPE_",
            message.target_data_type,
            TensorType,
            f"{field}.target_data_type",
        ),
    )


def deployment_in(message: deployment_pb2.Deployment) -> DeploymentDraft:
    """What the client asked for; zero values stay zero and mean "the default"."""
    batching, execution = message.batching, message.execution
    return DeploymentDraft(
        model=message.model,
        traffic=tuple(TrafficInput(target.version, target.percent) for target in message.traffic),
        display_name=message.display_name,
        instances_per_version=message.instances_per_version,
        batching=Batching(
            max_batch_size=batching.max_batch_size,
            max_queue_delay_micros=batching.max_queue_delay_micros,
            preferred_batch_sizes=tuple(batching.preferred_batch_sizes),
            max_queue_size=batching.max_queue_size,
            hold_lone_requests=batching.hold_lone_requests,
        ),
        execution=Execution(
            device=enum_in(
                deployment_pb2.ExecutionDevice,
                "EXECUTION_DEVICE_",
                execution.device,
                ExecutionDevice,
                "deployment.execution.device",
            ),
            intra_op_threads=execution.intra_op_threads,
            inter_op_threads=execution.inter_op_threads,
            gpu_memory_fraction=execution.gpu_memory_fraction,
            allow_spinning=execution.allow_spinning,
            allow_tf32=execution.allow_tf32,
        ),
        preprocessing=tuple(
            _preprocessing_in(step, f"deployment.preprocessing[{index}]")
            for index, step in enumerate(message.preprocessing)
        ),
        labels=dict(message.labels),
        etag=message.etag,
    )


def _preprocessing_out(step: Preprocessing) -> deployment_pb2.PreprocessingConfig:
    return deployment_pb2.PreprocessingConfig(
        input=step.input,
        source_layout=enum_out("PIXEL_LAYOUT_", step.source_layout),
        target_layout=enum_out("PIXEL_LAYOUT_", step.target_layout),
        resize_height=step.resize_height,
        resize_width=step.resize_width,
        interpolation=enum_out("RESIZE_INTERPOLATION_", step.interpolation),
        scale=step.scale,
        means=list(step.means),
        stds=list(step.stds),
        target_data_type=enum_out("TENSOR_DATA_TYPE_", step.target_data_type),
    )


def deployment_out(deployment: Deployment) -> deployment_pb2.Deployment:
    spec, status = deployment.spec, deployment.status
    return deployment_pb2.Deployment(
        name=names.deployment_name(deployment.deployment_id),
        display_name=spec.display_name,
        model=names.model_name(spec.model_id),
        traffic=[
            deployment_pb2.TrafficTarget(
                version=names.version_name(spec.model_id, t.version), percent=t.percent
            )
            for t in spec.traffic
        ],
        instances_per_version=spec.instances_per_version,
        batching=deployment_pb2.BatchingConfig(
            max_batch_size=spec.batching.max_batch_size,
            max_queue_delay_micros=spec.batching.max_queue_delay_micros,
            preferred_batch_sizes=list(spec.batching.preferred_batch_sizes),
            max_queue_size=spec.batching.max_queue_size,
            hold_lone_requests=spec.batching.hold_lone_requests,
        ),
        execution=deployment_pb2.ExecutionConfig(
            device=enum_out("EXECUTION_DEVICE_", spec.execution.device),
            intra_op_threads=spec.execution.intra_op_threads,
            inter_op_threads=spec.execution.inter_op_threads,
            gpu_memory_fraction=spec.execution.gpu_memory_fraction,
            allow_spinning=spec.execution.allow_spinning,
            allow_tf32=spec.execution.allow_tf32,
        ),
        preprocessing=[_preprocessing_out(step) for step in spec.preprocessing],
        labels=dict(spec.labels),
        state=enum_out("DEPLOYMENT_STATE_", status.state),
        observed_generation=status.generation,
        conditions=[
            deployment_pb2.DeploymentCondition(
                type=c.type,
                status=c.status,
                reason=c.reason,
                message=c.message,
                version=c.version,
                last_transition_time=time_out(c.last_transition_time),
            )
            for c in status.conditions
        ],
        loaded_versions=[
            deployment_pb2.LoadedVersionStatus(
                version=v.version,
                ready_instances=v.ready_instances,
                device=v.device,
                execution_providers=list(v.execution_providers),
            )
            for v in status.loaded_versions
        ],
        generation=deployment.generation,
        create_time=time_out(deployment.create_time),
        update_time=time_out(deployment.update_time),
        etag=deployment.etag,
    )


def report_in(message: deployment_service_pb2.ReportDeploymentStatusRequest) -> StatusReport:
    return StatusReport(
        generation=message.generation,
        conditions=tuple(
            Condition(
                type=c.type,
                status=c.status,
                reason=c.reason,
                message=c.message,
                version=c.version,
                last_transition_time=time_in(
                    c, "last_transition_time", f"conditions[{index}].last_transition_time"
                ),
            )
            for index, c in enumerate(message.conditions)
        ),
        loaded_versions=tuple(
            LoadedVersion(
                version=v.version,
                ready_instances=v.ready_instances,
                device=v.device,
                execution_providers=tuple(v.execution_providers),
            )
            for v in message.loaded_versions
        ),
        reporter=message.reporter,
        deployment_create_time=time_in(message, "deployment_create_time"),
    )


def watch_out(event: WatchEvent, *, with_tenant: bool) -> deployment_service_pb2.WatchDeploymentsResponse:
    response = deployment_service_pb2.WatchDeploymentsResponse(
        type=enum_out("WATCH_EVENT_TYPE_", event.type),
        tenant=event.tenant if with_tenant and event.type != WatchEventType.SYNCED else "",
    )
    if event.type == WatchEventType.DELETED:
        response.deployment.name = names.deployment_name(event.deployment_id)
        # The incarnation deleted: a watcher that already serves a re-created one keeps it.
        if event.deployment is not None and (created := time_out(event.deployment.create_time)) is not None:
            response.deployment.create_time.CopyFrom(created)
    elif event.deployment is not None:
        response.deployment.CopyFrom(deployment_out(event.deployment))
    return response


def audit_event_out(event: AuditEvent) -> deployment_pb2.AuditEvent:
    return deployment_pb2.AuditEvent(
        name=names.audit_event_name(event.event_id),
        action=enum_out("AUDIT_ACTION_", event.action),
        resource=event.resource,
        actor=event.actor,
        time=time_out(event.time),
        before_json=event.before_json,
        after_json=event.after_json,
    )
