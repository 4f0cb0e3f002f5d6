"""A deployment's overall state, computed from what the inference service reports.

Per version of the split (a condition without a version applies to all):

* loaded: a ``Ready`` or ``Loaded`` condition that holds, or a loaded-version
  entry with at least one ready instance;
* failed: a ``LoadFailed`` condition that holds.

The deployment is READY when every version is loaded, FAILED when every
version failed, DEGRADED when some are loaded and others failed, and PENDING
otherwise (nothing reported yet, or versions still loading).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from services.models import names
from services.models.domain import Condition, DeploymentSpec, DeploymentStatus, StatusReport
from services.models.enums import DeploymentState

LOADED_TYPES = frozenset({"Ready", "Loaded"})
FAILED_TYPE = "LoadFailed"


def compute_state(spec: DeploymentSpec, report: StatusReport) -> DeploymentState:
    targets = {names.version_name(spec.model_id, target.version) for target in spec.traffic}
    if not targets or not (report.conditions or report.loaded_versions):
        return DeploymentState.PENDING

    def holds(condition: Condition, version: str, types: frozenset[str]) -> bool:
        return condition.status and condition.type in types and condition.version in ("", version)

    loaded = {
        version
        for version in targets
        if any(holds(c, version, LOADED_TYPES) for c in report.conditions)
        or any(entry.version == version and entry.ready_instances > 0 for entry in report.loaded_versions)
    }
    failed = {
        version
        for version in targets - loaded
        if any(holds(c, version, frozenset({FAILED_TYPE})) for c in report.conditions)
    }
    if loaded == targets:
        return DeploymentState.READY
    if failed == targets:
        return DeploymentState.FAILED
    if loaded and failed:
        return DeploymentState.DEGRADED
    return DeploymentState.PENDING


def _with_transition_times(
    conditions: Sequence[Condition], previous: Sequence[Condition], now: datetime
) -> tuple[Condition, ...]:
    # A condition keeps its transition time while its status stays the same across reports.
    earlier = {(c.type, c.version): c for c in previous}
    result = []
    for condition in conditions:
        if condition.last_transition_time is None:
            before = earlier.get((condition.type, condition.version))
            unchanged = before is not None and before.status == condition.status
            when = before.last_transition_time if unchanged and before is not None else now
            condition = dataclasses.replace(condition, last_transition_time=when or now)
        result.append(condition)
    return tuple(result)


def next_status(
    spec: DeploymentSpec, previous: DeploymentStatus, report: StatusReport, now: datetime
) -> DeploymentStatus:
    """The status to store for ``report`` (which describes the current generation)."""
    return DeploymentStatus(
        state=compute_state(spec, report),
        conditions=_with_transition_times(report.conditions, previous.conditions, now),
        loaded_versions=report.loaded_versions,
        generation=report.generation,
        reporter=report.reporter,
    )
