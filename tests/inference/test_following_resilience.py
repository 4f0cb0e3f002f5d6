"""Following model management through its restarts and gaps, against the real services."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from aiplat.models.v1 import deployment_pb2
from inference import grpc_service_pb2 as pb
from services.inference.deployment import Condition, DeploymentState, DeploymentStatus
from services.inference.wanted import WantedDeployment
from services.runtime.devkeys import DevKeys
from tests.grpc_helpers import Metadata

from .calls import Models, auth, eventually, infer_request
from .platform import InferenceService, ModelsService
from .support import mlp_model

X = np.ones((1, 8), np.float32)
READY = deployment_pb2.DEPLOYMENT_STATE_READY


async def test_a_deployment_recreated_while_the_watch_was_away_serves_its_new_spec(
    models: Models,
    models_service: ModelsService,
    inference: InferenceService,
    viewer: Metadata,
    dev_keys: DevKeys,
    tenant: str,
) -> None:
    await models.create_model("scorer")
    v1 = await models.upload("scorer", mlp_model(seed=1))
    v2 = await models.upload("scorer", mlp_model(seed=2))
    await models.deploy("scorer", "scorer", [(v1, 100)])
    await models.set_traffic("scorer", [(v1, 100), (v2, 0)])
    await models.set_traffic("scorer", [(v1, 100)])
    await inference.serving(tenant, "scorer", 3)

    # Keep inference away (its reconnections are refused) while the deployment is deleted and created
    # again: the new one starts over at generation 1.
    token_file = inference.settings.service_token_file
    token = token_file.read_text()
    token_file.write_text("not-a-token")
    await models_service.stop()
    await models_service.start()
    await models.delete("scorer")
    await models.deploy("scorer", "scorer", [(v2, 100)])
    sessions = inference.watch_sessions
    token_file.write_text(token)
    await inference.reconnected(after=sessions)

    async def new_spec_served() -> bool:
        try:
            answer = await inference.stub.ModelInfer(infer_request("scorer", {"x": X}), metadata=viewer)
        except grpc.aio.AioRpcError as error:
            # The old deployment goes before the new one loads, as when the watch sees both changes:
            # meanwhile the deployment is not ready here (or, between the two, not known).
            if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND):
                raise
            return False
        return answer.model_version == "2"

    await eventually(new_spec_served, what="the re-created deployment's version to serve")
    ready = await models.wait_state("scorer", READY)
    assert [v.version for v in ready.loaded_versions] == [v2]
    assert ready.observed_generation == 1


async def test_a_fault_while_applying_one_change_does_not_stop_following(
    models: Models, inference: InferenceService, viewer: Metadata, monkeypatch: pytest.MonkeyPatch
) -> None:
    controller = inference.app.controller
    put = controller.put
    faults: list[str] = []

    def put_failing_once(wanted: WantedDeployment) -> None:
        if not faults:
            faults.append(wanted.name)
            raise RuntimeError("a fault in applying the change")
        put(wanted)

    monkeypatch.setattr(controller, "put", put_failing_once)
    await models.create_model("scorer")
    version = await models.upload("scorer", mlp_model(seed=1))
    await models.deploy("scorer", "scorer", [(version, 100)])

    await models.wait_state("scorer", READY)
    answer = await inference.stub.ModelInfer(infer_request("scorer", {"x": X}), metadata=viewer)
    assert answer.model_version == "1"
    assert faults == ["deployments/scorer"]


async def test_a_report_that_cannot_be_sent_does_not_stop_later_reports(
    models: Models, inference: InferenceService, tenant: str
) -> None:
    # A load failure quotes what it was told, such as a file name that is not valid UTF-8.
    failure = Condition(
        "LoadFailed", True, "MODEL_INVALID", "cannot open /models/\udcff.onnx", "models/m/versions/1"
    )
    inference.app.reporter.submit(
        DeploymentStatus("deployments/ghost", tenant, 1, DeploymentState.FAILED, (), (failure,))
    )
    await models.create_model("scorer")
    version = await models.upload("scorer", mlp_model(seed=1))
    await models.deploy("scorer", "scorer", [(version, 100)])

    ready = await models.wait_state("scorer", READY)
    assert [v.version for v in ready.loaded_versions] == [version]


async def test_the_status_of_a_deployment_unloaded_then_deleted_is_not_kept_for_ever(
    models: Models,
    models_service: ModelsService,
    inference: InferenceService,
    dev_keys: DevKeys,
    tenant: str,
) -> None:
    reporter = inference.app.reporter
    await models.create_model("scorer")
    version = await models.upload("scorer", mlp_model(seed=1))
    await models.deploy("scorer", "scorer", [(version, 100)])
    await models.wait_state("scorer", READY)
    await inference.stub.RepositoryModelUnload(
        pb.RepositoryModelUnloadRequest(model_name="scorer"), metadata=auth(dev_keys, tenant, "editor")
    )
    await models.delete("scorer")
    await eventually(lambda: _none_indexed(inference, tenant), what="the deletion to be followed")

    # After a reconnect every kept status is reported again; model management no longer has this one.
    sessions = inference.watch_sessions
    await models_service.stop()
    await models_service.start()
    await inference.reconnected(after=sessions)

    async def forgotten() -> bool:
        return reporter.tracked == 0

    await eventually(forgotten, what=f"{reporter} to forget the deployment")


async def _none_indexed(inference: InferenceService, tenant: str) -> bool:
    return not inference.app.controller.index(tenant)
