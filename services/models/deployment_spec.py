"""Turning a client's deployment into a valid spec: defaults, ranges and references.

Checks come in two steps.  :func:`build_spec` needs nothing but the request
(names, ranges, sums, duplicates); :func:`check_references` runs inside the
write transaction and checks what the store knows (the model and each
version exist, versions are READY, preprocessed inputs exist).  Both report
every problem at once, each under its request path such as
``deployment.traffic[1].version``.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Collection
from typing import Any

from sqlalchemy.orm import Session

from services.models import names
from services.models.domain import (
    Batching,
    DeploymentDraft,
    DeploymentSpec,
    Execution,
    Preprocessing,
    TrafficTarget,
)
from services.models.enums import TensorType, VersionState
from services.models.store import models as model_rows
from services.models.store import versions
from services.models.validation import (
    MAX_DISPLAY_NAME,
    Violations,
    check_count,
    check_labels,
    check_text,
    has_control_characters,
    shown,
)
from services.runtime.errors import InvalidArgument

MAX_TRAFFIC_TARGETS = 100
"""Targets in one traffic split: every version the deployment serves at once."""
MAX_PREPROCESSING_STEPS = 64
"""Preprocessing steps of a deployment (at most one per model input)."""
MAX_CHANNELS = 64
"""Values in one preprocessing step's ``means`` and ``stds`` (one per channel)."""
MAX_PREFERRED_BATCH_SIZES = 64
"""Entries of ``batching.preferred_batch_sizes``."""
MAX_INSTANCES = 64
MAX_BATCH_SIZE = 1024
MAX_QUEUE_DELAY_MICROS = 1_000_000
MAX_QUEUE_SIZE = 100_000
DEFAULT_QUEUE_SIZE = 1024
MAX_THREADS = 256
MAX_RESIZE_PIXELS = 4096
"""Largest height or width preprocessing resizes to: a float32 RGB image of 4096 x 4096 is already
200 MB, and the service holds a whole batch of them."""
SPEC_FIELDS = (
    "display_name",
    "traffic",
    "instances_per_version",
    "batching",
    "execution",
    "preprocessing",
    "labels",
)
_PREFIX = "deployment"


def _traffic(draft: DeploymentDraft, model_id: str, v: Violations) -> tuple[TrafficTarget, ...]:
    if not draft.traffic:
        v.add(f"{_PREFIX}.traffic", "name at least one version; percentages sum to 100")
        return ()
    if not check_count(v, f"{_PREFIX}.traffic", draft.traffic, MAX_TRAFFIC_TARGETS, "targets"):
        return ()
    targets: list[TrafficTarget] = []
    seen: set[int] = set()
    for index, target in enumerate(draft.traffic):
        field = f"{_PREFIX}.traffic[{index}]"
        if not 0 <= target.percent <= 100:
            v.add(f"{field}.percent", f"must be 0-100, got {target.percent}")
        try:
            version_model, number = names.parse_numbered_version(target.version, f"{field}.version")
        except InvalidArgument as error:
            v.add(f"{field}.version", error.violations[0].description)
            continue
        if version_model != model_id:
            # Not a duplicate of this model's version with the same number: that one is fine.
            v.add(f"{field}.version", f"must be a version of {names.model_name(model_id)}")
            continue
        if number in seen:
            v.add(f"{field}.version", f"{target.version} appears more than once")
        seen.add(number)
        targets.append(TrafficTarget(number, target.percent))
    total = sum(target.percent for target in draft.traffic)
    if total != 100:
        v.add(f"{_PREFIX}.traffic", f"percentages must sum to 100, got {total}")
    return tuple(targets)


def _instances(value: int, v: Violations) -> int:
    instances = value or 1
    if not 1 <= instances <= MAX_INSTANCES:
        v.add(f"{_PREFIX}.instances_per_version", f"must be 1-{MAX_INSTANCES}, got {value}")
    return instances


def _batching(draft: Batching, v: Violations) -> Batching:
    field = f"{_PREFIX}.batching"
    batching = dataclasses.replace(
        draft,
        max_batch_size=draft.max_batch_size or 1,
        max_queue_size=draft.max_queue_size or DEFAULT_QUEUE_SIZE,
    )
    if not 1 <= batching.max_batch_size <= MAX_BATCH_SIZE:
        v.add(f"{field}.max_batch_size", f"must be 1-{MAX_BATCH_SIZE}, got {draft.max_batch_size}")
    if not 0 <= batching.max_queue_delay_micros <= MAX_QUEUE_DELAY_MICROS:
        v.add(f"{field}.max_queue_delay_micros", f"must be 0-{MAX_QUEUE_DELAY_MICROS}")
    if not 1 <= batching.max_queue_size <= MAX_QUEUE_SIZE:
        v.add(f"{field}.max_queue_size", f"must be 1-{MAX_QUEUE_SIZE}, got {draft.max_queue_size}")
    sizes = batching.preferred_batch_sizes
    if not check_count(v, f"{field}.preferred_batch_sizes", sizes, MAX_PREFERRED_BATCH_SIZES, "sizes"):
        return batching
    for index, size in enumerate(sizes):
        if not 1 <= size <= batching.max_batch_size:
            v.add(
                f"{field}.preferred_batch_sizes[{index}]",
                f"must be 1-max_batch_size ({batching.max_batch_size})",
            )
        elif size in batching.preferred_batch_sizes[:index]:
            v.add(f"{field}.preferred_batch_sizes[{index}]", f"{size} appears more than once")
    return batching


def _execution(draft: Execution, v: Violations) -> Execution:
    field = f"{_PREFIX}.execution"
    for name in ("intra_op_threads", "inter_op_threads"):
        if not 0 <= getattr(draft, name) <= MAX_THREADS:
            v.add(f"{field}.{name}", f"must be 0 (the runtime chooses) to {MAX_THREADS}")
    if not (math.isfinite(draft.gpu_memory_fraction) and 0 <= draft.gpu_memory_fraction <= 1):
        v.add(f"{field}.gpu_memory_fraction", "must be between 0 and 1")
    return draft


def _normalization(step: Preprocessing, field: str, v: Violations) -> None:
    means = check_count(v, f"{field}.means", step.means, MAX_CHANNELS, "values")
    stds = check_count(v, f"{field}.stds", step.stds, MAX_CHANNELS, "values")
    if not (means and stds):
        return
    if len(step.means) != len(step.stds):
        v.add(f"{field}.stds", f"must have as many values as means ({len(step.means)}), got {len(step.stds)}")
    for position, mean in enumerate(step.means):
        if not math.isfinite(mean):
            v.add(f"{field}.means[{position}]", "must be a finite number")
    for position, std in enumerate(step.stds):
        if std == 0 or not math.isfinite(std):
            v.add(f"{field}.stds[{position}]", "must be a finite, non-zero number")


_FP32 = ("FP32", 3.4028234663852886e38)
_PREPROCESSED_TYPES = {
    TensorType.UNSPECIFIED: _FP32,  # the inference service's default
    TensorType.FP16: ("FP16", 65504.0),
    TensorType.FP32: _FP32,
    TensorType.FP64: ("FP64", sys.float_info.max),
}
"""Types preprocessing can hand a model, with their largest finite magnitude."""
_PIXELS = (0, 255)
"""Clients send preprocessed inputs as UINT8 images; resizing only mixes pixel values."""


def _value_range(step: Preprocessing, field: str, v: Violations) -> None:
    """Refuse a step that takes some pixel past the largest value of the model's type.

    ``(pixel * scale - mean) / std`` is monotonic in the pixel, so the darkest and brightest pixels
    reach furthest; every value in between stays within them.
    """
    target = _PREPROCESSED_TYPES.get(step.target_data_type)
    if target is None:
        v.add(f"{field}.target_data_type", "must be FP16, FP32 (the default) or FP64")
        return
    name, largest = target
    means, stds = step.means or (0.0,), step.stds or (1.0,)
    if len(means) != len(stds):
        return  # reported by _normalization
    for channel, (mean, std) in enumerate(zip(means, stds, strict=True)):
        if not (math.isfinite(mean) and math.isfinite(std) and std):
            return  # reported by _normalization
        for pixel in _PIXELS:
            value = (pixel * (step.scale or 1.0) - mean) / std
            if not abs(value) <= largest:
                where = f"{field}.stds[{channel}]" if step.stds else f"{field}.scale"
                v.add(
                    where,
                    f"with scale {step.scale or 1.0:g}, mean {mean:g} and std {std:g}, pixel value {pixel} "
                    f"of channel {channel} becomes {value:g}, past {name}'s largest magnitude {largest:g}",
                )
                return


def _preprocessing(draft: tuple[Preprocessing, ...], v: Violations) -> tuple[Preprocessing, ...]:
    steps: list[Preprocessing] = []
    if not check_count(v, f"{_PREFIX}.preprocessing", draft, MAX_PREPROCESSING_STEPS, "steps"):
        return ()
    for index, step in enumerate(draft):
        field = f"{_PREFIX}.preprocessing[{index}]"
        if not step.input:
            v.add(f"{field}.input", "is required")
        elif has_control_characters(step.input):
            # Model input names never hold them (see onnx_inspect), and PostgreSQL refuses NUL.
            v.add(f"{field}.input", "must not contain control characters")
        elif any(other.input == step.input for other in draft[:index]):
            v.add(f"{field}.input", f"{shown(step.input)} already has preprocessing; at most one per input")
        for name in ("resize_height", "resize_width"):
            if not 0 <= getattr(step, name) <= MAX_RESIZE_PIXELS:
                v.add(f"{field}.{name}", f"must be 0 (keeps the size) to {MAX_RESIZE_PIXELS} pixels")
        if not math.isfinite(step.scale):
            v.add(f"{field}.scale", "must be a finite number")
        _normalization(step, field, v)
        if math.isfinite(step.scale):
            _value_range(step, field, v)
        # 0 is the protobuf default and would zero every value; it means "no scaling".
        steps.append(dataclasses.replace(step, scale=step.scale or 1.0))
    return tuple(steps)


def build_spec(
    draft: DeploymentDraft,
    *,
    model_id: str | None = None,
    base: DeploymentSpec | None = None,
    fields: Collection[str] = SPEC_FIELDS,
) -> DeploymentSpec:
    """The spec ``draft`` asks for, with defaults applied; INVALID_ARGUMENT listing every bad field.

    For an update, ``base`` is the current spec and only ``fields`` are taken from the draft.
    """
    v = Violations()
    if model_id is None:
        try:
            model_id = names.parse_model_name(draft.model, f"{_PREFIX}.model")
        except InvalidArgument as error:
            v.add(f"{_PREFIX}.model", error.violations[0].description)
            model_id = ""
    spec = base if base is not None else DeploymentSpec(model_id=model_id, traffic=())
    changes: dict[str, Any] = {}
    if "display_name" in fields:
        check_text(v, f"{_PREFIX}.display_name", draft.display_name, MAX_DISPLAY_NAME)
        changes["display_name"] = draft.display_name
    if "labels" in fields:
        check_labels(v, f"{_PREFIX}.labels", draft.labels)
        changes["labels"] = dict(draft.labels)
    if "traffic" in fields:
        changes["traffic"] = _traffic(draft, model_id, v) if model_id else ()
    if "instances_per_version" in fields:
        changes["instances_per_version"] = _instances(draft.instances_per_version, v)
    if "batching" in fields:
        changes["batching"] = _batching(draft.batching, v)
    if "execution" in fields:
        changes["execution"] = _execution(draft.execution, v)
    if "preprocessing" in fields:
        changes["preprocessing"] = _preprocessing(draft.preprocessing, v)
    v.raise_if_any()
    return dataclasses.replace(spec, **changes)


def check_references(session: Session, tenant: str, spec: DeploymentSpec, fields: Collection[str]) -> None:
    """Check the spec against the store: the model, READY versions, and preprocessed inputs.

    The caller holds the model's share lock (:func:`~services.models.store.models.find_shared`)
    from before it locked the deployment, so the versions cannot change under the check.
    """
    v = Violations()
    if "model" in fields and model_rows.find(session, tenant, spec.model_id) is None:
        v.add(f"{_PREFIX}.model", f"{names.model_name(spec.model_id)} does not exist")
        v.raise_if_any()
    found = versions.find_many(session, tenant, spec.model_id, [target.version for target in spec.traffic])
    if "traffic" in fields:
        for index, target in enumerate(spec.traffic):
            version = found.get(target.version)
            name = names.version_name(spec.model_id, target.version)
            if version is None:
                v.add(f"{_PREFIX}.traffic[{index}].version", f"{name} does not exist")
            elif version.state != VersionState.READY:
                v.add(f"{_PREFIX}.traffic[{index}].version", f"{name} is {version.state.value}, not READY")
    if "traffic" in fields or "preprocessing" in fields:
        for index, step in enumerate(spec.preprocessing):
            lacking = sorted(
                names.version_name(spec.model_id, number)
                for number, version in found.items()
                if step.input not in {tensor.name for tensor in version.inputs}
            )
            if lacking:
                v.add(
                    f"{_PREFIX}.preprocessing[{index}].input",
                    f"{shown(step.input)} is not an input of {', '.join(lacking)}",
                )
    v.raise_if_any()
