"""Model management's deployment messages to the core's types, and statuses back to reports.

Zero values of the messages mean "the default": no instances means one, no
batch size means no batching, a scale of 0 means 1 (no deployment scales
every pixel to zero), unset layouts and types mean the preprocessing
defaults.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

from aiplat.models.v1 import deployment_pb2, deployment_service_pb2, model_pb2
from services.inference.deployment import Condition, DeploymentStatus
from services.inference.execution import BatchingOptions
from services.inference.preprocessing import Interpolation, Layout, PreprocessSpec
from services.inference.sessions import ExecutionOptions
from services.inference.wanted import WantedDeployment

__all__ = ["create_time_of", "report_request", "wanted_in"]

_DEVICES = {
    deployment_pb2.EXECUTION_DEVICE_CPU: "cpu",
    deployment_pb2.EXECUTION_DEVICE_GPU: "gpu",
}
_LAYOUTS = {deployment_pb2.PIXEL_LAYOUT_HWC: Layout.HWC, deployment_pb2.PIXEL_LAYOUT_CHW: Layout.CHW}
_INTERPOLATIONS = {
    deployment_pb2.RESIZE_INTERPOLATION_NEAREST: Interpolation.NEAREST,
    deployment_pb2.RESIZE_INTERPOLATION_BILINEAR: Interpolation.BILINEAR,
}

MAX_CONDITION_MESSAGE = 4096
"""Model management refuses a report with a longer condition message (its contract says so)."""


def _batching(message: deployment_pb2.BatchingConfig) -> BatchingOptions:
    defaults = BatchingOptions()
    return BatchingOptions(
        max_batch_size=message.max_batch_size or 1,
        max_queue_delay_us=message.max_queue_delay_micros,
        preferred_batch_sizes=tuple(message.preferred_batch_sizes),
        max_queue_size=message.max_queue_size or defaults.max_queue_size,
        hold_lone_requests=message.hold_lone_requests,
    )


INLINE_RUN_US = 200
"""Runs at most this long (µs) serve a lone request on the event loop: a hop to a worker thread and back
costs several hundred microseconds of CPU on a busy machine, more than such a run."""


def _execution(message: deployment_pb2.ExecutionConfig, default_threads: int) -> ExecutionOptions:
    return ExecutionOptions(
        device=_DEVICES.get(message.device, "auto"),  # type: ignore[arg-type]  # values are the Literal's
        intra_op_threads=message.intra_op_threads or default_threads,
        inter_op_threads=message.inter_op_threads,
        gpu_memory_fraction=message.gpu_memory_fraction,
        allow_spinning=message.allow_spinning,
        allow_tf32=message.allow_tf32,
        inline_run_us=INLINE_RUN_US,
    )


def _preprocessing(message: deployment_pb2.PreprocessingConfig) -> PreprocessSpec:
    defaults = PreprocessSpec(message.input)
    target = message.target_data_type
    return PreprocessSpec(
        input=message.input,
        source_layout=_LAYOUTS.get(message.source_layout, defaults.source_layout),
        target_layout=_LAYOUTS.get(message.target_layout, defaults.target_layout),
        resize_height=message.resize_height,
        resize_width=message.resize_width,
        interpolation=_INTERPOLATIONS.get(message.interpolation, defaults.interpolation),
        scale=message.scale or 1.0,
        means=tuple(message.means),
        stds=tuple(message.stds),
        target_datatype=(
            model_pb2.TensorDataType.Name(target).removeprefix("TENSOR_DATA_TYPE_")
            if target != model_pb2.TENSOR_DATA_TYPE_UNSPECIFIED
            else defaults.target_datatype
        ),
    )


def wanted_in(
    message: deployment_service_pb2.WatchDeploymentsResponse, *, default_threads: int = 0
) -> WantedDeployment:
    """The deployment a watch message announces; ValueError when its spec cannot be served.

    ``default_threads`` are the intra-op threads of each session where the
    deployment leaves them to the service (0 there); 0 leaves them to ONNX Runtime.
    """
    deployment = message.deployment
    return WantedDeployment(
        name=deployment.name,
        tenant=message.tenant,
        generation=deployment.generation,
        targets=tuple((target.version, target.percent) for target in deployment.traffic),
        instances=deployment.instances_per_version or 1,
        batching=_batching(deployment.batching),
        execution=_execution(deployment.execution, default_threads),
        preprocessing=tuple(_preprocessing(step) for step in deployment.preprocessing),
        create_time=create_time_of(deployment),
    )


def create_time_of(deployment: deployment_pb2.Deployment) -> datetime | None:
    """When model management created the deployment; None when the message does not say."""
    if not deployment.HasField("create_time"):
        return None
    return deployment.create_time.ToDatetime(tzinfo=UTC)


# Model management refuses control characters other than tabs and line breaks in a condition message.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clipped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _printable(text: str) -> str:
    """``text`` with each control character model management refuses spelled out as ``\\xNN``."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def _condition(condition: Condition) -> deployment_pb2.DeploymentCondition:
    message = deployment_pb2.DeploymentCondition(
        type=condition.type,
        status=condition.status,
        reason=condition.reason,
        # A load failure quotes ONNX Runtime, whose text has no bound and may quote the model's own
        # names (any characters): the whole of it is in the log.
        message=_clipped(_printable(condition.message), MAX_CONDITION_MESSAGE),
        version=condition.version,
    )
    if condition.last_transition_time is not None:
        message.last_transition_time.CopyFrom(_timestamp(condition.last_transition_time))
    return message


def _timestamp(time: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(time)
    return stamp


def report_request(
    status: DeploymentStatus, reporter: str
) -> deployment_service_pb2.ReportDeploymentStatusRequest:
    """What this server has loaded for a deployment; versions still draining are left out."""
    return deployment_service_pb2.ReportDeploymentStatusRequest(
        name=status.name,
        tenant=status.tenant,
        generation=status.generation,
        loaded_versions=[
            deployment_pb2.LoadedVersionStatus(
                version=version.version,
                ready_instances=version.ready_instances,
                device=version.device,
                execution_providers=list(version.execution_providers),
            )
            for version in status.loaded_versions
            if not version.draining
        ],
        conditions=[_condition(condition) for condition in status.conditions],
        reporter=reporter,
        deployment_create_time=None if status.create_time is None else _timestamp(status.create_time),
    )
