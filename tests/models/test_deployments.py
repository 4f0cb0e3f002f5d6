"""Deployments through the core: validation, generations and etags, rollback, reported status."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import threading
from collections.abc import Awaitable
from datetime import datetime, timedelta

import pytest

from services.models.clock import Clock, utcnow
from services.models.core import ModelsCore
from services.models.deployment_spec import build_spec
from services.models.deployments import Deployments
from services.models.domain import (
    Batching,
    Condition,
    DeploymentDraft,
    LoadedVersion,
    ModelVersion,
    Preprocessing,
    StatusReport,
    TrafficInput,
)
from services.models.enums import AuditAction, DeploymentState, TensorType, VersionState
from services.models.report_expiry import ReportExpiry
from services.models.store import deployments as deployment_rows
from services.models.watch import WatchHub
from services.runtime.auth import Identity, Role, bind_identity
from services.runtime.errors import (
    Aborted,
    Code,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from services.runtime.store import Database

from .helpers import clock_readings_while_locked, create_model, draft, upload
from .onnx_models import image_model, tiny_model, unique_model

pytestmark = pytest.mark.usefixtures("caller")


@pytest.fixture
async def two_versions(core: ModelsCore, caller: Identity) -> None:
    await create_model(core)
    await upload(core)
    await upload(core, data=tiny_model(seed=1))


async def _violations(core: ModelsCore, candidate: DeploymentDraft) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as raised:
        await core.deployments.create_deployment("live", candidate)
    return {v.field: v.description for v in raised.value.violations}


@pytest.mark.usefixtures("two_versions")
async def test_create_applies_defaults(core: ModelsCore) -> None:
    created = await core.deployments.create_deployment("live", draft(split=((1, 90), (2, 10))))
    assert created.generation == 1
    assert created.status.state == DeploymentState.PENDING
    assert created.spec.instances_per_version == 1
    assert created.spec.batching == Batching(max_batch_size=1, max_queue_delay_micros=0, max_queue_size=1024)
    assert [(t.version, t.percent) for t in created.spec.traffic] == [(1, 90), (2, 10)]
    assert await core.deployments.get_deployment("deployments/live") == created


@pytest.mark.usefixtures("two_versions")
async def test_traffic_errors_name_the_offending_target(core: ModelsCore) -> None:
    bad = draft(split=((1, 60), (1, 30), (3, 10)))
    found = await _violations(core, bad)
    assert "appears more than once" in found["deployment.traffic[1].version"]
    assert "does not exist" not in found.get("deployment.traffic[2].version", "")
    other_model = dataclasses.replace(draft(), traffic=(TrafficInput("models/other/versions/1", 100),))
    assert (
        "must be a version of models/fraud"
        in (await _violations(core, other_model))["deployment.traffic[0].version"]
    )
    assert "sum to 100" in (await _violations(core, draft(split=((1, 50),))))["deployment.traffic"]
    assert (
        "0-100"
        in (await _violations(core, draft(split=((1, 150), (2, -50)))))["deployment.traffic[0].percent"]
    )
    missing = await _violations(core, draft(split=((1, 50), (7, 50))))
    assert missing == {"deployment.traffic[1].version": "models/fraud/versions/7 does not exist"}


@pytest.mark.usefixtures("two_versions")
async def test_versions_must_be_ready(core: ModelsCore) -> None:
    await core.versions.update_version(
        "models/fraud/versions/2", ModelVersion("", 0, state=VersionState.ARCHIVED), ["state"]
    )
    found = await _violations(core, draft(split=((1, 50), (2, 50))))
    assert found == {"deployment.traffic[1].version": "models/fraud/versions/2 is ARCHIVED, not READY"}


@pytest.mark.usefixtures("two_versions")
async def test_batching_instances_and_preprocessing_ranges(core: ModelsCore) -> None:
    candidate = dataclasses.replace(
        draft(),
        instances_per_version=65,
        batching=Batching(
            max_batch_size=2000,
            max_queue_delay_micros=-1,
            preferred_batch_sizes=(4, 4000),
            max_queue_size=200_000,
        ),
        preprocessing=(
            Preprocessing(
                input="features", means=(0.5, 0.5), stds=(0.0,), resize_height=-1, resize_width=4097
            ),
        ),
    )
    found = await _violations(core, candidate)
    assert found["deployment.preprocessing[0].resize_width"] == "must be 0 (keeps the size) to 4096 pixels"
    assert set(found) == {
        "deployment.instances_per_version",
        "deployment.batching.max_batch_size",
        "deployment.batching.max_queue_delay_micros",
        "deployment.batching.max_queue_size",
        "deployment.batching.preferred_batch_sizes[1]",
        "deployment.preprocessing[0].stds",
        "deployment.preprocessing[0].stds[0]",
        "deployment.preprocessing[0].resize_height",
        "deployment.preprocessing[0].resize_width",
    }


@pytest.mark.usefixtures("two_versions")
async def test_lists_over_their_limit_are_one_violation_each(core: ModelsCore) -> None:
    duplicates = tuple(TrafficInput("models/fraud/versions/1", 0) for _ in range(400))
    steps = tuple(Preprocessing(input=f"input-{index}") for index in range(65))
    candidate = dataclasses.replace(
        draft(),
        traffic=duplicates,
        labels={f"K{index}": "v" for index in range(1000)},
        batching=Batching(max_batch_size=8, preferred_batch_sizes=tuple(range(100))),
        preprocessing=steps,
    )
    assert await _violations(core, candidate) == {
        "deployment.traffic": "at most 100 targets, got 400",
        "deployment.labels": "at most 64 labels, got 1000",
        "deployment.batching.preferred_batch_sizes": "at most 64 sizes, got 100",
        "deployment.preprocessing": "at most 64 steps, got 65",
    }
    channels = Preprocessing(input="features", means=(0.5,) * 65, stds=(0.0,) * 70)
    assert await _violations(core, dataclasses.replace(draft(), preprocessing=(channels,))) == {
        "deployment.preprocessing[0].means": "at most 64 values, got 65",
        "deployment.preprocessing[0].stds": "at most 64 values, got 70",
    }


@pytest.mark.usefixtures("two_versions")
async def test_preprocessing_must_name_an_input_of_every_version(core: ModelsCore) -> None:
    await upload(core, data=image_model())
    step = Preprocessing(input="image", means=(0.4, 0.4, 0.4), stds=(0.2, 0.2, 0.2))
    found = await _violations(
        core, dataclasses.replace(draft(split=((2, 50), (3, 50))), preprocessing=(step,))
    )
    assert "not an input of models/fraud/versions/2" in found["deployment.preprocessing[0].input"]
    created = await core.deployments.create_deployment(
        "vision", dataclasses.replace(draft(split=((3, 100),)), preprocessing=(step,))
    )
    assert created.spec.preprocessing[0].scale == 1.0


async def test_a_missing_model_names_the_field(core: ModelsCore) -> None:
    assert "does not exist" in (await _violations(core, draft("ghost")))["deployment.model"]
    assert "deployment.model" in await _violations(core, DeploymentDraft(model="ghost"))


@pytest.mark.usefixtures("two_versions")
async def test_updates_bump_the_generation_only_when_the_spec_changes(core: ModelsCore) -> None:
    created = await core.deployments.create_deployment("live", draft())
    same = await core.deployments.update_deployment("deployments/live", draft(), ["traffic"])
    assert same.generation == 1
    assert same.etag == created.etag
    moved = await core.deployments.update_deployment(
        "deployments/live", draft(split=((2, 100),)), ["traffic"]
    )
    assert moved.generation == 2
    assert moved.etag != created.etag
    relabelled = await core.deployments.update_deployment(
        "deployments/live", dataclasses.replace(draft(), labels={"team": "risk"}), ["labels"]
    )
    assert relabelled.generation == 3
    assert relabelled.spec.traffic == moved.spec.traffic

    split = await core.deployments.update_deployment(
        "deployments/live", draft(split=((1, 30), (2, 70))), ["traffic"]
    )
    reordered = await core.deployments.update_deployment(
        "deployments/live", draft(split=((2, 70), (1, 30))), ["traffic"]
    )
    assert (reordered.generation, reordered.etag) == (split.generation, split.etag), "the same split"
    assert [(t.version, t.percent) for t in reordered.spec.traffic] == [(1, 30), (2, 70)]
    page = await core.feeds.list_audit_events(
        100, "", resource="deployments/live", start_time=None, end_time=None
    )
    assert len([e for e in page.items if e.action == AuditAction.TRAFFIC_CHANGED]) == 2

    stale = dataclasses.replace(draft(), display_name="x", etag=created.etag)
    with pytest.raises(Aborted) as raised:
        await core.deployments.update_deployment("deployments/live", stale, ["display_name"])
    assert raised.value.reason == "ETAG_MISMATCH"
    with pytest.raises(InvalidArgument) as immutable:
        await core.deployments.update_deployment("deployments/live", draft(), ["model"])
    assert immutable.value.violations[0].field == "update_mask.paths[0]"


@pytest.mark.usefixtures("two_versions")
async def test_rollback_walks_back_through_the_splits(core: ModelsCore) -> None:
    await core.deployments.create_deployment("live", draft())
    with pytest.raises(FailedPrecondition) as nothing:
        await core.deployments.rollback_deployment("deployments/live")
    assert nothing.value.reason == "NO_PREVIOUS_TRAFFIC"
    await core.deployments.update_deployment("deployments/live", draft(split=((1, 50), (2, 50))), ["traffic"])
    await core.deployments.update_deployment("deployments/live", draft(split=((2, 100),)), ["traffic"])

    back = await core.deployments.rollback_deployment("deployments/live")
    assert [(t.version, t.percent) for t in back.spec.traffic] == [(1, 50), (2, 50)]
    assert back.generation == 4
    again = await core.deployments.rollback_deployment("deployments/live")
    assert [(t.version, t.percent) for t in again.spec.traffic] == [(1, 100)]
    with pytest.raises(FailedPrecondition):
        await core.deployments.rollback_deployment("deployments/live")

    events = (
        await core.feeds.list_audit_events(0, "", resource="deployments/live", start_time=None, end_time=None)
    ).items
    assert [e.action for e in events] == [
        AuditAction.ROLLED_BACK,
        AuditAction.ROLLED_BACK,
        AuditAction.TRAFFIC_CHANGED,
        AuditAction.TRAFFIC_CHANGED,
        AuditAction.DEPLOYMENT_CREATED,
    ]
    assert json.loads(events[0].after_json) == {
        "traffic": [{"version": "models/fraud/versions/1", "percent": 100}]
    }


@pytest.mark.usefixtures("two_versions")
async def test_rollback_to_a_deleted_version_is_refused(core: ModelsCore) -> None:
    await core.deployments.create_deployment("live", draft())
    await core.deployments.update_deployment("deployments/live", draft(split=((2, 100),)), ["traffic"])
    await core.versions.delete_version("models/fraud/versions/1", force=False)
    with pytest.raises(FailedPrecondition) as raised:
        await core.deployments.rollback_deployment("deployments/live")
    assert raised.value.reason == "ROLLBACK_TARGET_UNAVAILABLE"
    assert (await core.deployments.get_deployment("deployments/live")).generation == 2


@pytest.mark.usefixtures("two_versions")
async def test_rollback_to_a_force_deleted_version_is_refused_as_its_number_is_never_reused(
    core: ModelsCore,
) -> None:
    await core.deployments.create_deployment("live", draft())
    await core.deployments.update_deployment("deployments/live", draft(split=((1, 50), (2, 50))), ["traffic"])
    await core.versions.delete_version("models/fraud/versions/2", force=True)
    assert (await upload(core, data=unique_model())).version == 3
    with pytest.raises(FailedPrecondition) as raised:
        await core.deployments.rollback_deployment("deployments/live")
    assert raised.value.reason == "ROLLBACK_TARGET_UNAVAILABLE"
    assert [
        (t.version, t.percent)
        for t in (await core.deployments.get_deployment("deployments/live")).spec.traffic
    ] == [(1, 50)]


@pytest.mark.usefixtures("two_versions")
async def test_reported_status_sets_the_state_for_the_current_generation(
    core: ModelsCore, tenant: str
) -> None:
    await core.deployments.create_deployment("live", draft(split=((1, 50), (2, 50))))
    v1, v2 = "models/fraud/versions/1", "models/fraud/versions/2"
    loaded = StatusReport(
        1, (Condition("Ready", True, version=v1),), (LoadedVersion(v2, ready_instances=1),), "node-a"
    )
    ready = await core.deployments.report_status("deployments/live", "", loaded)
    assert ready.status.state == DeploymentState.READY
    assert ready.status.reporter == "node-a"
    assert ready.status.conditions[0].last_transition_time is not None

    # Later reports of the same replica replace its earlier one.
    half = StatusReport(
        1,
        (Condition("Ready", True, version=v1), Condition("LoadFailed", True, "OOM", version=v2)),
        reporter="node-a",
    )
    assert (
        await core.deployments.report_status("deployments/live", tenant, half)
    ).status.state == DeploymentState.DEGRADED
    failed = StatusReport(1, (Condition("LoadFailed", True, "BAD_FILE"),), reporter="node-a")
    assert (
        await core.deployments.report_status("deployments/live", "", failed)
    ).status.state == DeploymentState.FAILED

    await core.deployments.update_deployment("deployments/live", draft(split=((1, 100),)), ["traffic"])
    stale = await core.deployments.report_status("deployments/live", "", loaded)
    assert stale.generation == 2
    # Pending from the change on; a report on the previous spec changes nothing.
    assert (stale.status.state, stale.status.generation) == (DeploymentState.PENDING, 1)
    with pytest.raises(InvalidArgument):
        await core.deployments.report_status(
            "deployments/live", "", dataclasses.replace(loaded, generation=3)
        )


@pytest.mark.usefixtures("two_versions")
async def test_a_late_report_about_a_deleted_namesake_leaves_the_new_deployment_alone(
    core: ModelsCore,
) -> None:
    first = await core.deployments.create_deployment("live", draft())
    await core.deployments.delete_deployment("deployments/live", etag="")
    again = await core.deployments.create_deployment("live", draft())
    assert (again.generation, again.create_time > first.create_time) == (1, True)

    ready = (Condition("Ready", True),)
    late = StatusReport(1, ready, reporter="node-a", deployment_create_time=first.create_time)
    ignored = await core.deployments.report_status("deployments/live", "", late)
    assert (ignored.status.state, ignored.status.reports) == (DeploymentState.PENDING, ())

    current = dataclasses.replace(late, deployment_create_time=again.create_time)
    recorded = await core.deployments.report_status("deployments/live", "", current)
    assert recorded.status.state == DeploymentState.READY


@pytest.mark.usefixtures("two_versions")
async def test_a_deployment_no_replica_reports_on_any_more_turns_pending_until_one_does(
    core: ModelsCore, database: Database
) -> None:
    now = [utcnow()]
    lifetime = timedelta(minutes=3)
    swept = Deployments(database, core.hub, lambda: now[0], report_lifetime=lifetime)
    await swept.create_deployment("live", draft())
    serving = StatusReport(1, (Condition("Ready", True, "LOADED"),), reporter="node-a")
    ready = await swept.report_status("deployments/live", "", serving)
    assert ready.status.state == DeploymentState.READY
    # The store is shared with other tests: what is checked is this tenant's deployment.
    await swept.expire_reports()
    assert (await swept.get_deployment("deployments/live")).status == ready.status

    now[0] += lifetime + timedelta(seconds=1)
    assert await swept.expire_reports() >= 1
    silent = (await swept.get_deployment("deployments/live")).status
    assert silent.state == DeploymentState.PENDING
    assert [(c.type, c.status, c.reason) for c in silent.conditions] == [("Ready", False, "NO_REPORTS")]
    assert (silent.loaded_versions, silent.reports) == ((), ())
    await swept.expire_reports()
    assert (await swept.get_deployment("deployments/live")).status == silent, "nothing left to expire"

    back = await swept.report_status("deployments/live", "", dataclasses.replace(serving, reporter="node-b"))
    assert back.status.state == DeploymentState.READY


@pytest.mark.usefixtures("two_versions")
async def test_the_sweep_runs_on_its_own_once_started(core: ModelsCore, database: Database) -> None:
    now = [utcnow()]
    swept = Deployments(database, core.hub, lambda: now[0], report_lifetime=timedelta(minutes=3))
    await swept.create_deployment("live", draft())
    await swept.report_status(
        "deployments/live", "", StatusReport(1, (Condition("Ready", True),), reporter="a")
    )
    now[0] += timedelta(minutes=4)
    expiry = ReportExpiry(swept, interval=0.01)
    expiry.start()
    try:
        for _ in range(500):
            if (await swept.get_deployment("deployments/live")).status.state == DeploymentState.PENDING:
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the sweep never ran")
    finally:
        await expiry.stop()


@pytest.mark.usefixtures("two_versions")
async def test_a_report_with_control_characters_names_each_field(core: ModelsCore) -> None:
    await core.deployments.create_deployment("live", draft())
    v1 = "models/fraud/versions/1"
    bad = StatusReport(
        1,
        (
            Condition("Ready", True, message="fine\n\tand indented"),
            Condition("Ready\n", True, message="x\x00"),
        ),
        (LoadedVersion(v1, ready_instances=1, device="\x00", execution_providers=("CPU\x00",)),),
        "node\x00a",
    )
    with pytest.raises(InvalidArgument) as raised:
        await core.deployments.report_status("deployments/live", "", bad)
    assert raised.value.code == Code.INVALID_ARGUMENT
    assert {v.field: v.description for v in raised.value.violations} == {
        "reporter": "must not contain control characters",
        "conditions[1].type": "must not contain control characters",
        "conditions[1].message": "must not contain control characters",
        "loaded_versions[0].device": "must not contain control characters",
        "loaded_versions[0].execution_providers[0]": "must not contain control characters",
    }
    # Messages may span lines; nothing was stored from the refused report.
    fine = StatusReport(1, (Condition("Ready", True, message="fine\n\tand indented"),), reporter="node-a")
    stored = await core.deployments.report_status("deployments/live", "", fine)
    assert stored.status.conditions[0].message == "fine\n\tand indented"
    assert stored.status.state == DeploymentState.READY


@pytest.mark.usefixtures("two_versions")
async def test_a_report_with_too_many_items_names_the_list(core: ModelsCore) -> None:
    await core.deployments.create_deployment("live", draft())
    flood = StatusReport(1, tuple(Condition("Ready", True) for _ in range(257)))
    with pytest.raises(InvalidArgument) as raised:
        await core.deployments.report_status("deployments/live", "", flood)
    assert raised.value.violations == (FieldViolation("conditions", "at most 256 conditions, got 257"),)


@pytest.mark.usefixtures("two_versions")
async def test_a_report_with_overlong_strings_names_each_field(core: ModelsCore) -> None:
    await core.deployments.create_deployment("live", draft())
    v1 = "models/fraud/versions/1"
    long_name = "n" * 257
    bad = StatusReport(
        1,
        (Condition("Ready", True, reason=long_name, message="m" * 4097),),
        (LoadedVersion(v1, ready_instances=1, execution_providers=("CPUExecutionProvider",) * 17),),
        long_name,
    )
    with pytest.raises(InvalidArgument) as raised:
        await core.deployments.report_status("deployments/live", "", bad)
    assert {v.field: v.description for v in raised.value.violations} == {
        "reporter": "at most 256 characters, got 257",
        "conditions[0].reason": "at most 256 characters, got 257",
        "conditions[0].message": "at most 4096 characters, got 4097",
        "loaded_versions[0].execution_providers": "at most 16 providers, got 17",
    }
    at_limits = StatusReport(
        1,
        (Condition("Ready", True, reason="r" * 256, message="m" * 4096),),
        (LoadedVersion(v1, ready_instances=1, execution_providers=("CPUExecutionProvider",) * 16),),
        "n" * 256,
    )
    stored = await core.deployments.report_status("deployments/live", "", at_limits)
    assert stored.status.conditions[0].message == "m" * 4096
    assert stored.status.reporter == "n" * 256


@pytest.mark.usefixtures("two_versions")
async def test_reporting_for_another_tenant_needs_admin(core: ModelsCore, tenant: str) -> None:
    await core.deployments.create_deployment("live", draft())
    report = StatusReport(1, (Condition("Ready", True),))
    with pytest.raises(PermissionDenied):
        await core.deployments.report_status("deployments/live", "someone-else", report)
    admin = Identity(subject="inference", tenant="platform", roles=frozenset({Role.ADMIN}))
    with bind_identity(admin):
        reported = await core.deployments.report_status("deployments/live", tenant, report)
        assert reported.status.state == DeploymentState.READY
        with pytest.raises(NotFound):
            await core.deployments.report_status("deployments/live", "", report)


@pytest.mark.usefixtures("two_versions")
async def test_list_filters_and_delete(core: ModelsCore) -> None:
    await core.deployments.create_deployment("a", dataclasses.replace(draft(), labels={"env": "prod"}))
    await core.deployments.create_deployment("b", draft(split=((2, 100),)))
    page = await core.deployments.list_deployments(0, "", 'model = "models/fraud" AND labels.env = prod')
    assert [d.deployment_id for d in page.items] == ["a"]
    pending = await core.deployments.list_deployments(0, "", "state = DEPLOYMENT_STATE_PENDING")
    assert [d.deployment_id for d in pending.items] == ["a", "b"]
    with pytest.raises(Aborted):
        await core.deployments.delete_deployment("deployments/a", etag="stale")
    await core.deployments.delete_deployment("deployments/a", etag="")
    with pytest.raises(NotFound):
        await core.deployments.get_deployment("deployments/a")
    events = (
        await core.feeds.list_audit_events(0, "", resource="deployments/a", start_time=None, end_time=None)
    ).items
    assert events[0].action == AuditAction.DEPLOYMENT_DELETED
    assert json.loads(events[0].after_json) is None


@pytest.mark.usefixtures("two_versions")
async def test_a_split_change_that_waited_for_the_row_lock_records_the_time_after_it(
    core: ModelsCore, database: Database, tenant: str
) -> None:
    await core.deployments.create_deployment("live", draft())

    def change(clock: Clock) -> Awaitable[object]:
        return Deployments(database, WatchHub(8), clock).update_deployment(
            "deployments/live", draft(split=((2, 100),)), ["traffic"]
        )

    lock = functools.partial(deployment_rows.get, tenant=tenant, deployment_id="live", lock=True)
    assert await clock_readings_while_locked(database, lock, change) == [True]


@pytest.mark.usefixtures("two_versions")
async def test_archiving_waits_for_a_split_change_in_progress_and_then_refuses(
    core: ModelsCore, database: Database
) -> None:
    await core.deployments.create_deployment("live", draft())
    inside, go_on = threading.Event(), threading.Event()

    def paused_clock() -> datetime:
        # Read inside the change's transaction, after its locks: the change is held right there.
        inside.set()
        assert go_on.wait(10)
        return utcnow()

    changing = asyncio.ensure_future(
        Deployments(database, WatchHub(8), paused_clock).update_deployment(
            "deployments/live", draft(split=((1, 50), (2, 50))), ["traffic"]
        )
    )
    assert await asyncio.to_thread(inside.wait, 10)
    archiving = asyncio.ensure_future(
        core.versions.update_version(
            "models/fraud/versions/2", ModelVersion("", 0, state=VersionState.ARCHIVED), ["state"]
        )
    )
    await asyncio.sleep(0.2)  # archiving starts and waits for the change's transaction
    go_on.set()
    changed = await changing
    assert [t.version for t in changed.spec.traffic] == [1, 2]
    with pytest.raises(FailedPrecondition) as refused:
        await archiving
    assert refused.value.reason == "MODEL_VERSION_IN_USE"
    assert (await core.versions.get_version("models/fraud/versions/2")).state == VersionState.READY


async def _audited_actions(core: ModelsCore, resource: str) -> list[AuditAction]:
    page = await core.feeds.list_audit_events(0, "", resource=resource, start_time=None, end_time=None)
    return [event.action for event in page.items]


@pytest.mark.usefixtures("two_versions")
async def test_rollback_never_restores_the_empty_split_a_forced_model_delete_left(core: ModelsCore) -> None:
    await core.deployments.create_deployment("live", draft())
    await core.registry.delete_model("models/fraud", force=True, etag="")
    await create_model(core)
    await upload(core)
    served = await core.deployments.update_deployment("deployments/live", draft(), ["traffic"])

    with pytest.raises(FailedPrecondition) as refused:
        await core.deployments.rollback_deployment("deployments/live")
    assert refused.value.reason == "NO_PREVIOUS_TRAFFIC"
    # Still serving the re-created model's version 1; nothing was recorded for the refused rollback.
    assert await core.deployments.get_deployment("deployments/live") == served
    assert AuditAction.ROLLED_BACK not in await _audited_actions(core, "deployments/live")


@pytest.mark.usefixtures("two_versions")
async def test_rollback_refuses_a_split_that_a_forced_delete_left_short_of_100(core: ModelsCore) -> None:
    await core.deployments.create_deployment("live", draft(split=((1, 50), (2, 50))))
    await core.versions.delete_version("models/fraud/versions/2", force=True)
    served = await core.deployments.update_deployment("deployments/live", draft(), ["traffic"])

    with pytest.raises(FailedPrecondition) as refused:
        await core.deployments.rollback_deployment("deployments/live")
    assert refused.value.reason == "ROLLBACK_TARGET_UNAVAILABLE"
    assert "sum to 50" in refused.value.message
    assert await core.deployments.get_deployment("deployments/live") == served
    assert AuditAction.ROLLED_BACK not in await _audited_actions(core, "deployments/live")
    # The refusal kept the history: a second try is refused the same way, not one split further back.
    with pytest.raises(FailedPrecondition) as again:
        await core.deployments.rollback_deployment("deployments/live")
    assert again.value.reason == "ROLLBACK_TARGET_UNAVAILABLE"


@pytest.mark.usefixtures("two_versions")
async def test_a_version_of_another_model_is_not_also_called_a_duplicate(core: ModelsCore) -> None:
    mixed = dataclasses.replace(
        draft(),
        traffic=(TrafficInput("models/other/versions/1", 50), TrafficInput("models/fraud/versions/1", 50)),
    )
    assert await _violations(core, mixed) == {
        "deployment.traffic[0].version": "must be a version of models/fraud"
    }


@pytest.mark.usefixtures("two_versions")
async def test_a_preprocessed_input_with_control_characters_is_invalid_even_without_traffic(
    core: ModelsCore,
) -> None:
    await core.deployments.create_deployment("live", draft())
    # A forced delete leaves the split empty: no version's inputs to check the name against.
    await core.versions.delete_version("models/fraud/versions/1", force=True)
    candidate = dataclasses.replace(draft(), preprocessing=(Preprocessing(input="pixel\x00s"),))
    with pytest.raises(InvalidArgument) as raised:
        await core.deployments.update_deployment("deployments/live", candidate, ["preprocessing"])
    assert raised.value.violations == (
        FieldViolation("deployment.preprocessing[0].input", "must not contain control characters"),
    )
    assert (await core.deployments.get_deployment("deployments/live")).spec.preprocessing == ()


async def test_a_mask_naming_a_label_key_no_deployment_can_have_is_invalid_argument(core: ModelsCore) -> None:
    await create_model(core)
    await upload(core)
    created = await core.deployments.create_deployment("fraud-live", draft())
    with pytest.raises(InvalidArgument) as raised:
        await core.deployments.update_deployment("deployments/fraud-live", draft(), ["labels.Team"])
    assert [v.field for v in raised.value.violations] == ["update_mask.paths[0]"]
    assert await core.deployments.get_deployment("deployments/fraud-live") == created


@pytest.mark.usefixtures("two_versions")
async def test_preprocessing_that_overflows_the_models_type_is_refused_naming_the_field(
    core: ModelsCore,
) -> None:
    overflowing = Preprocessing(
        input="features", means=(0.0, 0.0), stds=(1.0, 0.003), target_data_type=TensorType.FP16
    )
    found = await _violations(core, dataclasses.replace(draft(), preprocessing=(overflowing,)))
    assert set(found) == {"deployment.preprocessing[0].stds[1]"}
    assert "pixel value 255 of channel 1 becomes 85000" in found["deployment.preprocessing[0].stds[1]"]
    assert "FP16's largest magnitude 65504" in found["deployment.preprocessing[0].stds[1]"]
    # Without stds, the scale is what takes pixels too far; FP32 (the default) bounds it too.
    huge = Preprocessing(input="features", scale=1e37)
    assert set(await _violations(core, dataclasses.replace(draft(), preprocessing=(huge,)))) == {
        "deployment.preprocessing[0].scale"
    }
    # A type preprocessing cannot produce is refused here, not when the inference service loads it.
    integer = Preprocessing(input="features", target_data_type=TensorType.INT64)
    assert await _violations(core, dataclasses.replace(draft(), preprocessing=(integer,))) == {
        "deployment.preprocessing[0].target_data_type": "must be FP16, FP32 (the default) or FP64"
    }


@pytest.mark.usefixtures("two_versions")
async def test_preprocessing_up_to_the_largest_value_of_the_type_is_accepted(core: ModelsCore) -> None:
    # 255 * 2**8 = 65280 is within FP16's 65504; the largest scale FP64 holds is far beyond FP32's.
    edge = Preprocessing(input="features", means=(0.0,), stds=(2.0**-8,), target_data_type=TensorType.FP16)
    wide = Preprocessing(input="features", scale=1e300, target_data_type=TensorType.FP64)
    for step in (edge, wide):
        build_spec(dataclasses.replace(draft(), preprocessing=(step,)), model_id="fraud")
