"""Inference replicas renew their status reports, so that one that went away stops counting."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from aiplat.models.v1 import deployment_pb2
from services.inference.convert_deployments import report_request
from services.runtime.devkeys import DevKeys

from .calls import DEPLOYMENT, Models, auth, eventually
from .platform import InferenceService, ModelsService
from .support import mlp_model

READY = deployment_pb2.DEPLOYMENT_STATE_READY


@pytest.fixture
def report_lifetime() -> timedelta:
    return timedelta(seconds=1)


async def test_a_replica_that_went_away_stops_counting_once_the_others_renew_their_reports(
    tmp_path: Path, dev_keys: DevKeys, models_service: ModelsService, models: Models, tenant: str
) -> None:
    inference = await InferenceService.start(
        tmp_path, dev_keys, models_service, tenant, status_refresh_seconds=0.1
    )
    try:
        await models.create_model("scorer")
        version = await models.upload("scorer", mlp_model(seed=1))
        await models.deploy("scorer", "scorer", [(version, 100)])
        ready = await models.wait_state("scorer", READY)

        # A second replica reports, then goes away without a word (its pod was replaced).
        gone = DEPLOYMENT.ReportDeploymentStatusRequest(
            name="deployments/scorer",
            generation=ready.generation,
            reporter="replica-gone",
            conditions=[deployment_pb2.DeploymentCondition(type="Ready", status=True, reason="LOADED")],
        )
        await models.deployments.ReportDeploymentStatus(gone, metadata=auth(dev_keys, tenant, "admin"))
        shown = await models.get("scorer")
        assert any(c.message.startswith("[replica-gone]") for c in shown.conditions)

        async def forgotten() -> bool:
            conditions = (await models.get("scorer")).conditions
            return not any("replica-gone" in c.message for c in conditions)

        await eventually(forgotten, what="the departed replica's report to stop counting")
        after = await models.get("scorer")
        assert after.state == READY
        assert [(v.version, v.ready_instances) for v in after.loaded_versions] == [(version, 1)]
    finally:
        await inference.close()


async def test_reports_name_the_deployment_they_describe_by_its_creation_time(
    tmp_path: Path, dev_keys: DevKeys, models_service: ModelsService, models: Models, tenant: str
) -> None:
    inference = await InferenceService.start(tmp_path, dev_keys, models_service, tenant)
    try:
        await models.create_model("scorer")
        version = await models.upload("scorer", mlp_model(seed=1))
        created = await models.deploy("scorer", "scorer", [(version, 100)])
        await models.wait_state("scorer", READY)
        (status,) = inference.app.repository.statuses()
        report = report_request(status, inference.app.reporter.name)
        assert report.deployment_create_time == created.create_time
    finally:
        await inference.close()
