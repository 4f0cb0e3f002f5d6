"""A deployment's overall state, computed from what the inference service reports.

Per version of the split (a condition without a version applies to all):

* loaded: a ``Ready`` or ``Loaded`` condition that holds, or a loaded-version
  entry with at least one ready instance;
* failed: a ``LoadFailed`` condition that holds.

The deployment is READY when every version is loaded, FAILED when every
version failed, DEGRADED when some are loaded and others failed, and PENDING
otherwise (nothing reported yet, or versions still loading).

Several inference replicas report each deployment, each under its own
reporter name.  Each replica's last report for the current generation is
kept, and the state is computed from all of them together: a version is
loaded when any replica serves it, and failed only when none does and one
reports the failure.  So a replica still loading (or one that failed) does
not take READY away from the others; the conditions shown name their replica.
A report of a newer generation drops the reports of older ones.

Replicas report again at least once a minute even when nothing changed, so a
replica that went away (scaled in, or replaced by a pod of another name) is
noticed: when a report comes in, the other replicas' reports older than the
report lifetime (three minutes by default) are dropped.  Model management also
sweeps its deployments every minute for reports past their lifetime, so that a
deployment no replica reports on any more (the inference service is down) turns
PENDING with a ``Ready`` condition of reason ``NO_REPORTS``, instead of showing
the last state for ever.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from services.models import names
from services.models.domain import (
    Condition,
    DeploymentSpec,
    DeploymentStatus,
    LoadedVersion,
    ReplicaReport,
    StatusReport,
)
from services.models.enums import DeploymentState

LOADED_TYPES = frozenset({"Ready", "Loaded"})
FAILED_TYPE = "LoadFailed"
MAX_REPORTERS = 32
"""Replicas whose reports a deployment keeps (reporter names come from callers: they must be bounded);
past it, the one that reported longest ago goes."""
REPORT_LIFETIME = timedelta(minutes=3)
"""How long a replica's report counts without being renewed (replicas renew every minute)."""
NO_REPORTS = "NO_REPORTS"
"""Reason of the ``Ready`` condition of a deployment whose every replica's report outlived its lifetime."""


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
    spec: DeploymentSpec,
    previous: DeploymentStatus,
    report: StatusReport,
    now: datetime,
    lifetime: timedelta = REPORT_LIFETIME,
) -> DeploymentStatus:
    """The status to store for ``report`` (which describes the current generation), combined with the
    other replicas' reports of that generation received within ``lifetime``."""
    earlier = next((r for r in previous.reports if r.reporter == report.reporter), None)
    latest = ReplicaReport(
        report.reporter,
        report.generation,
        _with_transition_times(report.conditions, earlier.conditions if earlier else (), now),
        report.loaded_versions,
        now,
    )
    others = [
        r
        for r in previous.reports
        if r.reporter != report.reporter and r.generation == report.generation and _alive(r, now, lifetime)
    ]
    return _combined(spec, report.generation, (*others[-(MAX_REPORTERS - 1) :], latest), report.reporter)


def without_expired_reports(
    spec: DeploymentSpec, status: DeploymentStatus, now: datetime, lifetime: timedelta = REPORT_LIFETIME
) -> DeploymentStatus | None:
    """``status`` once the reports older than ``lifetime`` are dropped; None when none is."""
    alive = tuple(r for r in status.reports if _alive(r, now, lifetime))
    if len(alive) == len(status.reports):
        return None
    if alive:
        return _combined(spec, status.generation, alive, status.reporter)
    minutes = lifetime.total_seconds() / 60
    silent = Condition(
        "Ready",
        False,
        NO_REPORTS,
        f"no inference replica has reported on this deployment for {minutes:g} minutes: "
        "the inference service may be down or unable to reach model management",
        last_transition_time=now,
    )
    return DeploymentStatus(generation=status.generation, conditions=(silent,))


def _combined(
    spec: DeploymentSpec, generation: int, reports: Sequence[ReplicaReport], reporter: str
) -> DeploymentStatus:
    conditions = _named_conditions(reports)
    loaded = _merged_loaded(r.loaded_versions for r in reports)
    return DeploymentStatus(
        state=compute_state(spec, StatusReport(generation, conditions, loaded)),
        conditions=conditions,
        loaded_versions=loaded,
        generation=generation,
        reporter=reporter,
        reports=tuple(reports),
    )


def _alive(report: ReplicaReport, now: datetime, lifetime: timedelta) -> bool:
    # Reports stored before their time was kept count until the next generation, as they did then.
    return report.time is None or now - report.time <= lifetime


def _named_conditions(reports: Sequence[ReplicaReport]) -> tuple[Condition, ...]:
    """Every replica's conditions; with several replicas, each message names its replica."""
    if len(reports) == 1:
        return reports[0].conditions
    return tuple(
        dataclasses.replace(c, message=f"[{r.reporter}] {c.message}" if c.message else f"[{r.reporter}]")
        for r in reports
        for c in r.conditions
    )


def _merged_loaded(per_replica: Iterable[Sequence[LoadedVersion]]) -> tuple[LoadedVersion, ...]:
    """Loaded versions over all replicas: ready instances added up per version and device."""
    merged: dict[tuple[str, str], LoadedVersion] = {}
    for loaded in per_replica:
        for entry in loaded:
            key = (entry.version, entry.device)
            seen = merged.get(key)
            if seen is None:
                merged[key] = entry
                continue
            providers = tuple(dict.fromkeys((*seen.execution_providers, *entry.execution_providers)))
            instances = seen.ready_instances + entry.ready_instances
            merged[key] = dataclasses.replace(seen, ready_instances=instances, execution_providers=providers)
    return tuple(merged.values())
