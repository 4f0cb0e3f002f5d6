"""DeploymentService over real gRPC: validation details, rollback, watch, audit, status, tenancy."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import grpc
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2

from aiplat.models.v1 import deployment_pb2, deployment_service_pb2, registry_service_pb2
from services.runtime.auth import Identity, Role, bind_identity
from services.runtime.devkeys import DevKeys, mint_token
from tests.grpc_helpers import Metadata, error_details

from .grpc_support import Running
from .helpers import create_model, upload
from .onnx_models import tiny_model

Token = Callable[..., Metadata]
pb = deployment_service_pb2
W = pb.WatchEventType


@pytest.fixture
async def fraud(running: Running, tenant: str) -> None:
    """models/fraud with versions 1 and 2, READY (set up through the core, as alice of the tenant)."""
    with bind_identity(Identity("alice", tenant, frozenset({Role.EDITOR}))):
        await create_model(running.core)
        await upload(running.core)
        await upload(running.core, data=tiny_model(seed=1))


def _deployment(*split: tuple[int, int], **fields: object) -> deployment_pb2.Deployment:
    traffic = [
        deployment_pb2.TrafficTarget(version=f"models/fraud/versions/{v}", percent=p) for v, p in split
    ]
    return deployment_pb2.Deployment(model="models/fraud", traffic=traffic, **fields)  # type: ignore[arg-type]


async def _create(
    running: Running, auth: Metadata, deployment_id: str, *split: tuple[int, int]
) -> deployment_pb2.Deployment:
    request = pb.CreateDeploymentRequest(deployment=_deployment(*split), deployment_id=deployment_id)
    return await running.deployments.CreateDeployment(request, metadata=auth)


async def _set_traffic(
    running: Running, auth: Metadata, *split: tuple[int, int]
) -> deployment_pb2.Deployment:
    deployment = _deployment(*split, name="deployments/live")
    request = pb.UpdateDeploymentRequest(
        deployment=deployment, update_mask=field_mask_pb2.FieldMask(paths=["traffic"])
    )
    return await running.deployments.UpdateDeployment(request, metadata=auth)


@pytest.mark.usefixtures("fraud")
async def test_validation_errors_name_each_offending_field(running: Running, token: Token) -> None:
    candidate = _deployment(
        (1, 70),
        (1, 20),
        (9, 20),
        instances_per_version=100,
        batching=deployment_pb2.BatchingConfig(max_batch_size=8, preferred_batch_sizes=[16]),
        preprocessing=[deployment_pb2.PreprocessingConfig(input="features", means=[0.5], stds=[])],
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await running.deployments.CreateDeployment(
            pb.CreateDeploymentRequest(deployment=candidate, deployment_id="live"), metadata=token("editor")
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error_details(raised.value)[1]) == {
        "deployment.traffic[1].version",
        "deployment.traffic",
        "deployment.instances_per_version",
        "deployment.batching.preferred_batch_sizes[0]",
        "deployment.preprocessing[0].stds",
    }
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await _create(running, token("editor"), "live", (1, 50), (3, 50))
    assert error_details(missing.value)[1] == ["deployment.traffic[1].version"]


@pytest.mark.usefixtures("fraud")
async def test_too_many_targets_is_one_small_violation(running: Running, token: Token) -> None:
    candidate = _deployment(*([(1, 0)] * 400))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await running.deployments.CreateDeployment(
            pb.CreateDeploymentRequest(deployment=candidate, deployment_id="live"), metadata=token("editor")
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_details(raised.value) == ("INVALID_ARGUMENT", ["deployment.traffic"])
    assert raised.value.details() == "invalid request: deployment.traffic: at most 100 targets, got 400"


@pytest.mark.usefixtures("fraud")
async def test_rollback_and_the_audit_trail(running: Running, token: Token) -> None:
    auth = token("editor")
    created = await _create(running, auth, "live", (1, 100))
    assert created.generation == 1
    assert created.state == deployment_pb2.DEPLOYMENT_STATE_PENDING
    assert created.batching.max_queue_size == 1024
    assert created.instances_per_version == 1
    moved = await _set_traffic(running, auth, (1, 80), (2, 20))
    assert moved.generation == 2
    assert moved.etag != created.etag

    # A rollback that names the etag its caller saw never undoes a change the caller has not seen.
    with pytest.raises(grpc.aio.AioRpcError) as stale:
        await running.deployments.RollbackDeployment(
            pb.RollbackDeploymentRequest(name="deployments/live", etag=created.etag), metadata=auth
        )
    assert (stale.value.code(), error_details(stale.value)[0]) == (grpc.StatusCode.ABORTED, "ETAG_MISMATCH")
    rolled = await running.deployments.RollbackDeployment(
        pb.RollbackDeploymentRequest(name="deployments/live", etag=moved.etag), metadata=auth
    )
    assert [(t.version, t.percent) for t in rolled.traffic] == [("models/fraud/versions/1", 100)]
    assert rolled.generation == 3
    with pytest.raises(grpc.aio.AioRpcError) as nothing:
        await running.deployments.RollbackDeployment(
            pb.RollbackDeploymentRequest(name="deployments/live"), metadata=auth
        )
    assert nothing.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_details(nothing.value)[0] == "NO_PREVIOUS_TRAFFIC"

    events = (
        await running.deployments.ListAuditEvents(
            pb.ListAuditEventsRequest(resource="deployments/live"), metadata=auth
        )
    ).audit_events
    assert [e.action for e in events] == [
        deployment_pb2.AUDIT_ACTION_ROLLED_BACK,
        deployment_pb2.AUDIT_ACTION_TRAFFIC_CHANGED,
        deployment_pb2.AUDIT_ACTION_DEPLOYMENT_CREATED,
    ]
    assert {e.actor for e in events} == {"alice"}
    assert all(e.time.seconds > 0 for e in events)
    changed = events[1]
    assert json.loads(changed.before_json) == {
        "traffic": [{"version": "models/fraud/versions/1", "percent": 100}]
    }
    assert json.loads(changed.after_json)["traffic"][1] == {
        "version": "models/fraud/versions/2",
        "percent": 20,
    }
    assert events[0].name.startswith("auditEvents/")


@pytest.mark.usefixtures("fraud")
async def test_a_stale_etag_is_aborted(running: Running, token: Token) -> None:
    auth = token("editor")
    created = await _create(running, auth, "live", (1, 100))
    await _set_traffic(running, auth, (2, 100))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await running.deployments.DeleteDeployment(
            pb.DeleteDeploymentRequest(name="deployments/live", etag=created.etag), metadata=auth
        )
    assert raised.value.code() == grpc.StatusCode.ABORTED
    assert error_details(raised.value)[0] == "ETAG_MISMATCH"


@pytest.mark.usefixtures("fraud")
async def test_deleting_a_deployed_version_is_a_failed_precondition(running: Running, token: Token) -> None:
    auth = token("editor")
    await _create(running, auth, "live", (1, 100))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await running.registry.DeleteModelVersion(
            registry_service_pb2.DeleteModelVersionRequest(name="models/fraud/versions/1"), metadata=auth
        )
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_details(raised.value)[0] == "MODEL_VERSION_IN_USE"
    with pytest.raises(grpc.aio.AioRpcError) as model:
        await running.registry.DeleteModel(
            registry_service_pb2.DeleteModelRequest(name="models/fraud"), metadata=auth
        )
    assert model.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_details(model.value)[0] == "MODEL_IN_USE"


async def _read(call: object) -> pb.WatchDeploymentsResponse:
    message = await asyncio.wait_for(call.read(), timeout=5)  # type: ignore[attr-defined]
    assert isinstance(message, pb.WatchDeploymentsResponse)
    return message


@pytest.mark.usefixtures("fraud")
async def test_watch_sees_existing_synced_created_updated_deleted(running: Running, token: Token) -> None:
    auth = token("editor")
    await _create(running, auth, "before", (1, 100))
    call = running.deployments.WatchDeployments(pb.WatchDeploymentsRequest(), metadata=token("viewer"))
    try:
        existing = await _read(call)
        assert existing.type == W.WATCH_EVENT_TYPE_EXISTING
        assert existing.deployment.name == "deployments/before"
        assert existing.tenant == ""
        assert existing.deployment.generation == 1
        assert (await _read(call)).type == W.WATCH_EVENT_TYPE_SYNCED

        await _create(running, auth, "live", (1, 100))
        await _set_traffic(running, auth, (2, 100))
        await running.deployments.DeleteDeployment(
            pb.DeleteDeploymentRequest(name="deployments/before"), metadata=auth
        )
        events = [await _read(call) for _ in range(3)]
    finally:
        call.cancel()
    assert [(e.type, e.deployment.name) for e in events] == [
        (W.WATCH_EVENT_TYPE_CREATED, "deployments/live"),
        (W.WATCH_EVENT_TYPE_UPDATED, "deployments/live"),
        (W.WATCH_EVENT_TYPE_DELETED, "deployments/before"),
    ]
    assert events[1].deployment.generation == 2
    assert events[1].deployment.traffic[0].version.endswith("/2")
    # A deletion names the incarnation it ends, so a watcher can tell it from a re-created one.
    assert events[2].deployment.create_time == existing.deployment.create_time
    assert not events[2].deployment.traffic


async def test_a_watch_ends_when_its_token_expires_so_the_watcher_calls_again_with_a_fresh_one(
    running: Running, dev_keys: DevKeys, tenant: str
) -> None:
    # Expired 27-28 s ago (issue times are whole seconds): still accepted within the verifier's 30 s of
    # leeway, for two or three more seconds.
    minted = mint_token(
        dev_keys, subject="alice", tenant=tenant, roles=["viewer"], now=time.time() - 60, ttl_seconds=33
    )
    call = running.deployments.WatchDeployments(
        pb.WatchDeploymentsRequest(), metadata=(("authorization", f"Bearer {minted}"),)
    )
    try:
        assert (await _read(call)).type == W.WATCH_EVENT_TYPE_SYNCED
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await _read(call)
    finally:
        call.cancel()
    assert ended.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_details(ended.value)[0] == "TOKEN_EXPIRED"


@pytest.mark.usefixtures("fraud")
async def test_watching_all_tenants_needs_admin_and_carries_the_tenant(
    running: Running, token: Token, tenant: str
) -> None:
    await _create(running, token("editor"), "live", (1, 100))
    denied = running.deployments.WatchDeployments(
        pb.WatchDeploymentsRequest(all_tenants=True), metadata=token("editor")
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _read(denied)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED

    admin = token("admin", tenant_name="platform", subject="inference")
    call = running.deployments.WatchDeployments(pb.WatchDeploymentsRequest(all_tenants=True), metadata=admin)
    try:
        ours = []
        while (message := await _read(call)).type != W.WATCH_EVENT_TYPE_SYNCED:
            if message.tenant == tenant:
                ours.append(message.deployment.name)
        assert ours == ["deployments/live"]
    finally:
        call.cancel()


@pytest.mark.usefixtures("fraud")
async def test_reported_status_shows_on_the_deployment(running: Running, token: Token, tenant: str) -> None:
    await _create(running, token("editor"), "live", (1, 100))
    report = pb.ReportDeploymentStatusRequest(
        name="deployments/live",
        tenant=tenant,
        generation=1,
        loaded_versions=[
            deployment_pb2.LoadedVersionStatus(
                version="models/fraud/versions/1", ready_instances=2, device="cpu"
            )
        ],
        conditions=[
            deployment_pb2.DeploymentCondition(type="Ready", status=True, version="models/fraud/versions/1")
        ],
        reporter="inference-0:50052",
    )
    admin = token("admin", tenant_name="platform", subject="inference")
    reported = await running.deployments.ReportDeploymentStatus(report, metadata=admin)
    assert reported.state == deployment_pb2.DEPLOYMENT_STATE_READY
    fetched = await running.deployments.GetDeployment(
        pb.GetDeploymentRequest(name="deployments/live"), metadata=token("viewer")
    )
    assert fetched.state == deployment_pb2.DEPLOYMENT_STATE_READY
    assert fetched.loaded_versions[0].ready_instances == 2
    assert fetched.conditions[0].last_transition_time.seconds > 0
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await running.deployments.ReportDeploymentStatus(
            report, metadata=token("editor", tenant_name=f"{tenant}-x")
        )
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    report.conditions[0].last_transition_time.seconds = 253402300800  # the first second of year 10000
    with pytest.raises(grpc.aio.AioRpcError) as out_of_range:
        await running.deployments.ReportDeploymentStatus(report, metadata=admin)
    assert out_of_range.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_details(out_of_range.value)[1] == ["conditions[0].last_transition_time"]


@pytest.mark.parametrize(
    "bad_time",
    [timestamp_pb2.Timestamp(seconds=253402300800), timestamp_pb2.Timestamp(seconds=0, nanos=-1)],
)
async def test_audit_times_outside_the_calendar_are_invalid(
    running: Running, token: Token, bad_time: timestamp_pb2.Timestamp
) -> None:
    for field in ("start_time", "end_time"):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await running.deployments.ListAuditEvents(
                pb.ListAuditEventsRequest(**{field: bad_time}), metadata=token("viewer")
            )
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_details(raised.value)[1] == [field]


@pytest.mark.usefixtures("fraud")
async def test_deployments_of_another_tenant_are_not_found(
    running: Running, token: Token, tenant: str
) -> None:
    await _create(running, token("editor"), "live", (1, 100))
    other = token("editor", tenant_name=f"{tenant}-other")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await running.deployments.GetDeployment(
            pb.GetDeploymentRequest(name="deployments/live"), metadata=other
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await running.deployments.ListDeployments(pb.ListDeploymentsRequest(), metadata=other)
    assert list(listed.deployments) == []
    with pytest.raises(grpc.aio.AioRpcError) as viewer:
        await _create(running, token("viewer"), "other", (1, 100))
    assert viewer.value.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.usefixtures("fraud")
async def test_batching_that_holds_lone_requests_is_kept_and_can_be_turned_off(
    running: Running, token: Token
) -> None:
    auth = token("editor")
    deployment = _deployment((1, 100))
    deployment.batching.CopyFrom(
        deployment_pb2.BatchingConfig(max_batch_size=8, max_queue_delay_micros=500, hold_lone_requests=True)
    )
    created = await running.deployments.CreateDeployment(
        pb.CreateDeploymentRequest(deployment=deployment, deployment_id="held"), metadata=auth
    )
    assert created.batching.hold_lone_requests
    fetched = await running.deployments.GetDeployment(
        pb.GetDeploymentRequest(name="deployments/held"), metadata=auth
    )
    assert fetched.batching == created.batching

    changed = deployment_pb2.Deployment(
        name="deployments/held",
        batching=deployment_pb2.BatchingConfig(max_batch_size=8, max_queue_delay_micros=500),
    )
    updated = await running.deployments.UpdateDeployment(
        pb.UpdateDeploymentRequest(
            deployment=changed, update_mask=field_mask_pb2.FieldMask(paths=["batching"])
        ),
        metadata=auth,
    )
    assert not updated.batching.hold_lone_requests
    assert updated.generation == created.generation + 1


@pytest.mark.usefixtures("fraud")
async def test_spinning_threads_and_tf32_are_stored_and_returned(running: Running, token: Token) -> None:
    auth = token("editor")
    deployment = _deployment((1, 100))
    deployment.execution.CopyFrom(
        deployment_pb2.ExecutionConfig(intra_op_threads=2, allow_spinning=True, allow_tf32=True)
    )
    created = await running.deployments.CreateDeployment(
        pb.CreateDeploymentRequest(deployment=deployment, deployment_id="spinning"), metadata=auth
    )
    fetched = await running.deployments.GetDeployment(
        pb.GetDeploymentRequest(name="deployments/spinning"), metadata=auth
    )
    assert created.execution.allow_spinning
    assert created.execution.allow_tf32
    assert fetched.execution == created.execution


def _loaded_report(tenant: str, generation: int, *versions: int) -> pb.ReportDeploymentStatusRequest:
    return pb.ReportDeploymentStatusRequest(
        name="deployments/live",
        tenant=tenant,
        generation=generation,
        loaded_versions=[
            deployment_pb2.LoadedVersionStatus(version=f"models/fraud/versions/{v}", ready_instances=1)
            for v in versions
        ],
        reporter="inference-0:50052",
    )


@pytest.mark.usefixtures("fraud")
async def test_a_changed_spec_is_pending_until_the_inference_service_reports_on_it(
    running: Running, token: Token, tenant: str
) -> None:
    editor, admin = token("editor"), token("admin", tenant_name="platform", subject="inference")
    created = await _create(running, editor, "live", (1, 100))
    assert (created.state, created.observed_generation) == (deployment_pb2.DEPLOYMENT_STATE_PENDING, 0)
    ready = await running.deployments.ReportDeploymentStatus(_loaded_report(tenant, 1, 1), metadata=admin)
    assert (ready.state, ready.observed_generation) == (deployment_pb2.DEPLOYMENT_STATE_READY, 1)

    moved = await _set_traffic(running, editor, (1, 80), (2, 20))

    assert moved.generation == 2
    assert (moved.state, moved.observed_generation) == (deployment_pb2.DEPLOYMENT_STATE_PENDING, 1)
    assert [v.version for v in moved.loaded_versions] == ["models/fraud/versions/1"], "still what is served"
    late = await running.deployments.ReportDeploymentStatus(_loaded_report(tenant, 1, 1), metadata=admin)
    assert late.state == deployment_pb2.DEPLOYMENT_STATE_PENDING, "a report on the old spec changes nothing"
    applied = await running.deployments.ReportDeploymentStatus(
        _loaded_report(tenant, 2, 1, 2), metadata=admin
    )
    assert (applied.state, applied.observed_generation) == (deployment_pb2.DEPLOYMENT_STATE_READY, 2)
