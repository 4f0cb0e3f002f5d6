"""JSON documents of a deployment's spec and reported status, as stored in their columns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from services.models.domain import (
    Batching,
    Condition,
    DeploymentSpec,
    DeploymentStatus,
    Execution,
    LoadedVersion,
    Preprocessing,
    ReplicaReport,
    TrafficTarget,
)
from services.models.enums import (
    DeploymentState,
    ExecutionDevice,
    PixelLayout,
    ResizeInterpolation,
    TensorType,
)


def _preprocessing_to_json(step: Preprocessing) -> dict[str, Any]:
    return {
        "input": step.input,
        "source_layout": step.source_layout.value,
        "target_layout": step.target_layout.value,
        "resize_height": step.resize_height,
        "resize_width": step.resize_width,
        "interpolation": step.interpolation.value,
        "scale": step.scale,
        "means": list(step.means),
        "stds": list(step.stds),
        "target_data_type": step.target_data_type.value,
    }


def _preprocessing(data: Mapping[str, Any]) -> Preprocessing:
    return Preprocessing(
        input=data["input"],
        source_layout=PixelLayout(data["source_layout"]),
        target_layout=PixelLayout(data["target_layout"]),
        resize_height=int(data["resize_height"]),
        resize_width=int(data["resize_width"]),
        interpolation=ResizeInterpolation(data["interpolation"]),
        scale=float(data["scale"]),
        means=tuple(float(value) for value in data["means"]),
        stds=tuple(float(value) for value in data["stds"]),
        target_data_type=TensorType(data["target_data_type"]),
    )


def spec_to_json(spec: DeploymentSpec) -> dict[str, Any]:
    """The spec's serving settings; model, traffic, display name and labels have their own columns."""
    return {
        "instances_per_version": spec.instances_per_version,
        "batching": {
            "max_batch_size": spec.batching.max_batch_size,
            "max_queue_delay_micros": spec.batching.max_queue_delay_micros,
            "preferred_batch_sizes": list(spec.batching.preferred_batch_sizes),
            "max_queue_size": spec.batching.max_queue_size,
            "hold_lone_requests": spec.batching.hold_lone_requests,
        },
        "execution": {
            "device": spec.execution.device.value,
            "intra_op_threads": spec.execution.intra_op_threads,
            "inter_op_threads": spec.execution.inter_op_threads,
            "gpu_memory_fraction": spec.execution.gpu_memory_fraction,
            "allow_spinning": spec.execution.allow_spinning,
            "allow_tf32": spec.execution.allow_tf32,
        },
        "preprocessing": [_preprocessing_to_json(step) for step in spec.preprocessing],
    }


def spec_from_json(
    data: Mapping[str, Any],
    *,
    model_id: str,
    display_name: str,
    labels: Mapping[str, str],
    traffic: Iterable[TrafficTarget],
) -> DeploymentSpec:
    batching, execution = data["batching"], data["execution"]
    return DeploymentSpec(
        model_id=model_id,
        traffic=tuple(traffic),
        display_name=display_name,
        instances_per_version=int(data["instances_per_version"]),
        batching=Batching(
            max_batch_size=int(batching["max_batch_size"]),
            max_queue_delay_micros=int(batching["max_queue_delay_micros"]),
            preferred_batch_sizes=tuple(int(size) for size in batching["preferred_batch_sizes"]),
            max_queue_size=int(batching["max_queue_size"]),
            # Specs stored before the field existed held no lone request.
            hold_lone_requests=bool(batching.get("hold_lone_requests", False)),
        ),
        execution=Execution(
            device=ExecutionDevice(execution["device"]),
            intra_op_threads=int(execution["intra_op_threads"]),
            inter_op_threads=int(execution["inter_op_threads"]),
            gpu_memory_fraction=float(execution["gpu_memory_fraction"]),
            # Specs stored before the field existed let no thread spin.
            allow_spinning=bool(execution.get("allow_spinning", False)),
            allow_tf32=bool(execution.get("allow_tf32", False)),
        ),
        preprocessing=tuple(_preprocessing(step) for step in data["preprocessing"]),
        labels=dict(labels),
    )


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parsed_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _conditions_to_json(conditions: Iterable[Condition]) -> list[dict[str, Any]]:
    return [
        {
            "type": c.type,
            "status": c.status,
            "reason": c.reason,
            "message": c.message,
            "version": c.version,
            "last_transition_time": _time(c.last_transition_time),
        }
        for c in conditions
    ]


def _loaded_to_json(loaded: Iterable[LoadedVersion]) -> list[dict[str, Any]]:
    return [
        {
            "version": v.version,
            "ready_instances": v.ready_instances,
            "device": v.device,
            "execution_providers": list(v.execution_providers),
        }
        for v in loaded
    ]


def status_to_json(status: DeploymentStatus) -> dict[str, Any]:
    """The reported status; its state has a column of its own, for filters."""
    return {
        "generation": status.generation,
        "reporter": status.reporter,
        "conditions": _conditions_to_json(status.conditions),
        "loaded_versions": _loaded_to_json(status.loaded_versions),
        "reports": [
            {
                "reporter": r.reporter,
                "generation": r.generation,
                "conditions": _conditions_to_json(r.conditions),
                "loaded_versions": _loaded_to_json(r.loaded_versions),
                "time": _time(r.time),
            }
            for r in status.reports
        ],
    }


def _conditions(data: Iterable[Mapping[str, Any]]) -> tuple[Condition, ...]:
    return tuple(
        Condition(
            type=c["type"],
            status=bool(c["status"]),
            reason=c["reason"],
            message=c["message"],
            version=c["version"],
            last_transition_time=_parsed_time(c["last_transition_time"]),
        )
        for c in data
    )


def _loaded(data: Iterable[Mapping[str, Any]]) -> tuple[LoadedVersion, ...]:
    return tuple(
        LoadedVersion(
            version=v["version"],
            ready_instances=int(v["ready_instances"]),
            device=v["device"],
            execution_providers=tuple(v["execution_providers"]),
        )
        for v in data
    )


def status_from_json(data: Mapping[str, Any], state: DeploymentState) -> DeploymentStatus:
    conditions, loaded = _conditions(data["conditions"]), _loaded(data["loaded_versions"])
    generation, reporter = int(data["generation"]), data["reporter"]
    if "reports" in data:
        reports = tuple(
            ReplicaReport(
                reporter=r["reporter"],
                generation=int(r["generation"]),
                conditions=_conditions(r["conditions"]),
                loaded_versions=_loaded(r["loaded_versions"]),
                time=_parsed_time(r.get("time")),
            )
            for r in data["reports"]
        )
    else:
        # Stored before replicas' reports were kept apart: the one report there was.
        has_report = bool(conditions or loaded)
        reports = (ReplicaReport(reporter, generation, conditions, loaded),) if has_report else ()
    return DeploymentStatus(
        state=state,
        generation=generation,
        reporter=reporter,
        conditions=conditions,
        loaded_versions=loaded,
        reports=reports,
    )
