"""A deployment's state from reported conditions."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from services.models.domain import (
    Condition,
    DeploymentSpec,
    DeploymentStatus,
    LoadedVersion,
    StatusReport,
    TrafficTarget,
)
from services.models.enums import DeploymentState
from services.models.status import (
    MAX_REPORTERS,
    NO_REPORTS,
    compute_state,
    next_status,
    without_expired_reports,
)
from services.models.store.codec import status_from_json, status_to_json

SPEC = DeploymentSpec("m", (TrafficTarget(1, 50), TrafficTarget(2, 50)))
V1, V2 = "models/m/versions/1", "models/m/versions/2"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("conditions", "loaded", "expected"),
    [
        ((), (), DeploymentState.PENDING),
        ((Condition("Ready", True, version=V1),), (LoadedVersion(V2, 1),), DeploymentState.READY),
        ((Condition("Ready", True),), (), DeploymentState.READY),
        (
            (Condition("Ready", True, version=V1), Condition("LoadFailed", True, version=V2)),
            (),
            DeploymentState.DEGRADED,
        ),
        ((Condition("LoadFailed", True),), (), DeploymentState.FAILED),
        (
            (Condition("Ready", True, version=V1), Condition("Ready", False, version=V2)),
            (),
            DeploymentState.PENDING,
        ),
        ((), (LoadedVersion(V1, 0),), DeploymentState.PENDING),
    ],
)
def test_state(
    conditions: tuple[Condition, ...], loaded: tuple[LoadedVersion, ...], expected: DeploymentState
) -> None:
    assert compute_state(SPEC, StatusReport(1, conditions, loaded)) == expected


def test_a_replica_still_loading_does_not_take_ready_away_from_one_that_serves() -> None:
    ready = next_status(
        SPEC,
        DeploymentStatus(),
        StatusReport(1, (Condition("Ready", True),), (LoadedVersion(V1, 1), LoadedVersion(V2, 1)), "node-a"),
        NOW,
    )
    assert ready.state == DeploymentState.READY
    loading = StatusReport(1, (Condition("Ready", False, "LOADING"),), (), "node-b")
    assert next_status(SPEC, ready, loading, NOW).state == DeploymentState.READY


def _report(
    reporter: str, *conditions: Condition, loaded: tuple[LoadedVersion, ...] = (), generation: int = 1
) -> StatusReport:
    return StatusReport(generation, conditions, loaded, reporter)


def test_a_failure_on_one_replica_shows_beside_the_version_another_serves() -> None:
    serving = next_status(
        SPEC, DeploymentStatus(), _report("node-a", loaded=(LoadedVersion(V1, 1), LoadedVersion(V2, 1))), NOW
    )
    failed = _report(
        "node-b",
        Condition("LoadFailed", True, "MODEL_INVALID", "cannot load", V2),
        loaded=(LoadedVersion(V1, 2),),
    )
    combined = next_status(SPEC, serving, failed, NOW)
    assert combined.state == DeploymentState.READY, "node-a serves both versions"
    assert [c.message for c in combined.conditions] == ["[node-b] cannot load"]
    assert {(v.version, v.ready_instances) for v in combined.loaded_versions} == {(V1, 3), (V2, 1)}
    assert [r.reporter for r in combined.reports] == ["node-a", "node-b"]


def test_a_replicas_new_report_replaces_its_own_and_a_newer_generation_drops_older_ones() -> None:
    status = next_status(SPEC, DeploymentStatus(), _report("node-a", loaded=(LoadedVersion(V1, 1),)), NOW)
    status = next_status(SPEC, status, _report("node-b", loaded=(LoadedVersion(V2, 1),)), NOW)
    assert status.state == DeploymentState.READY
    status = next_status(SPEC, status, _report("node-a", Condition("Ready", False, "LOADING")), NOW)
    assert status.state == DeploymentState.PENDING, "node-a no longer serves version 1"
    newer = next_status(SPEC, status, _report("node-b", loaded=(LoadedVersion(V1, 1),), generation=2), NOW)
    assert [(r.reporter, r.generation) for r in newer.reports] == [("node-b", 2)]


def test_the_replicas_kept_are_bounded() -> None:
    status = DeploymentStatus()
    for index in range(MAX_REPORTERS + 5):
        status = next_status(SPEC, status, _report(f"node-{index}", Condition("Ready", False)), NOW)
    assert len(status.reports) == MAX_REPORTERS
    assert status.reports[-1].reporter == f"node-{MAX_REPORTERS + 4}"


def test_replicas_reports_survive_the_store_and_a_status_stored_before_them_reads_as_one() -> None:
    status = next_status(SPEC, DeploymentStatus(), _report("node-a", loaded=(LoadedVersion(V1, 1),)), NOW)
    status = next_status(SPEC, status, _report("node-b", Condition("Ready", True, "", "", V2)), NOW)
    assert status_from_json(status_to_json(status), status.state) == status
    legacy = status_to_json(dataclasses.replace(status, reports=()))
    del legacy["reports"]
    (only,) = status_from_json(legacy, status.state).reports
    assert (only.reporter, only.conditions) == ("node-b", status.conditions)


def test_a_replica_that_stopped_reporting_stops_counting_once_its_report_outlives_the_lifetime() -> None:
    lifetime = timedelta(minutes=3)
    serving = next_status(SPEC, DeploymentStatus(), _report("gone", Condition("Ready", True)), NOW, lifetime)
    failing = _report("left", Condition("LoadFailed", True, "MODEL_INVALID", "cannot load"))

    within = next_status(SPEC, serving, failing, NOW + lifetime, lifetime)
    assert within.state == DeploymentState.READY, "the replica that serves reported within the lifetime"

    after = next_status(SPEC, within, failing, NOW + lifetime + timedelta(seconds=1), lifetime)
    assert [r.reporter for r in after.reports] == ["left"]
    assert after.state == DeploymentState.FAILED


def test_a_report_stored_before_its_time_was_kept_counts_until_the_next_generation() -> None:
    status = next_status(SPEC, DeploymentStatus(), _report("node-a", Condition("Ready", True)), NOW)
    assert status.reports[0].time == NOW
    stored = status_to_json(status)
    del stored["reports"][0]["time"]
    legacy = status_from_json(stored, status.state)
    later = next_status(SPEC, legacy, _report("node-b", Condition("Ready", False)), NOW + timedelta(days=1))
    assert [r.reporter for r in later.reports] == ["node-a", "node-b"]
    assert later.state == DeploymentState.READY


def test_the_reports_past_their_lifetime_are_swept_and_a_deployment_left_without_any_is_pending() -> None:
    lifetime = timedelta(minutes=3)
    status = next_status(SPEC, DeploymentStatus(), _report("old", Condition("Ready", True)), NOW, lifetime)
    later = NOW + timedelta(minutes=2)
    status = next_status(SPEC, status, _report("new", Condition("Ready", False, "LOADING")), later, lifetime)
    assert without_expired_reports(SPEC, status, NOW + lifetime, lifetime) is None, "none is past it yet"

    swept = without_expired_reports(SPEC, status, NOW + lifetime + timedelta(seconds=1), lifetime)
    assert swept is not None
    assert [r.reporter for r in swept.reports] == ["new"]
    assert swept.state == DeploymentState.PENDING

    empty = without_expired_reports(SPEC, swept, later + lifetime + timedelta(seconds=1), lifetime)
    assert empty is not None
    assert (empty.state, empty.reports, empty.generation) == (DeploymentState.PENDING, (), 1)
    assert [(c.type, c.status, c.reason) for c in empty.conditions] == [("Ready", False, NO_REPORTS)]
