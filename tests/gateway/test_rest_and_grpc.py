"""Every RPC of model management through the gateway, over gRPC and over REST, with the same results.

The same scenario runs twice, in two tenants: once with gRPC calls, once with
REST requests built from the contracts' ``google.api.http`` bindings.  The
two transcripts must match once what differs between any two runs (times,
etags, generated ids) is masked.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from aiplat.models.v1 import deployment_pb2, deployment_service_pb2, model_pb2, registry_service_pb2
from services.launcher.gateway_rpcs import service_rpcs
from services.runtime.devkeys import DevKeys
from tests.models.onnx_models import sha256, tiny_model

from .apis import Api, GrpcApi, RestApi
from .support import MODELS, Envoy, ModelsInstance, bearer

pytestmark = pytest.mark.envoy

reg = registry_service_pb2
dep = deployment_service_pb2
RPCS = {rpc.method: rpc for rpc in service_rpcs(MODELS)}
_VOLATILE = {"createTime", "updateTime", "time", "startTime", "lastTransitionTime", "etag"}
_GENERATED_ID = re.compile(r"(operations|auditEvents)/[^/\"]+")


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<volatile>" if k in _VOLATILE else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if isinstance(value, str):
        if value.startswith("{"):
            return _masked(json.loads(value))
        return _GENERATED_ID.sub(r"\1/<id>", value)
    return value


def _wait_done(api: Api, operation: str) -> Any:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        polled = api.call("GetOperation", reg.GetOperationRequest(name=operation))
        if polled.get("done"):
            return polled
        time.sleep(0.05)
    raise AssertionError(f"{operation} not done")


def scenario(api: Api, artifact: bytes, import_source: Path) -> Iterator[tuple[str, Any]]:
    """Every RPC once, in an order that makes each meaningful; yields (step, result)."""
    model = model_pb2.Model(
        display_name="Fraud", description="first", task=model_pb2.MODEL_TASK_CLASSIFICATION
    )
    yield "create model", api.call("CreateModel", reg.CreateModelRequest(model=model, model_id="fraud"))
    yield "get model", api.call("GetModel", reg.GetModelRequest(name="models/fraud"))
    yield "list models", api.call("ListModels", reg.ListModelsRequest(page_size=10))
    changed = model_pb2.Model(name="models/fraud", description="second")
    mask = field_mask_pb2.FieldMask(paths=["description"])
    yield "update model", api.call("UpdateModel", reg.UpdateModelRequest(model=changed, update_mask=mask))
    upload_metadata = reg.UploadModelVersionMetadata(
        parent="models/fraud",
        sha256=sha256(artifact),
        size_bytes=len(artifact),
        model_version=model_pb2.ModelVersion(description="uploaded"),
    )
    yield (
        "upload",
        api.client_stream(
            "UploadModelVersion",
            [
                reg.UploadModelVersionRequest(metadata=upload_metadata),
                reg.UploadModelVersionRequest(chunk=artifact),
            ],
        ),
    )
    imported = model_pb2.ModelVersion(
        artifact_uri=str(import_source), sha256=sha256(artifact), format=model_pb2.ARTIFACT_FORMAT_ONNX
    )
    operation = api.call(
        "ImportModelVersion", reg.ImportModelVersionRequest(parent="models/fraud", model_version=imported)
    )
    yield "import", operation
    yield "import done", _wait_done(api, operation["name"])
    v1 = "models/fraud/versions/1"
    yield "get version", api.call("GetModelVersion", reg.GetModelVersionRequest(name=v1))
    yield "list versions", api.call("ListModelVersions", reg.ListModelVersionsRequest(parent="models/fraud"))
    described = model_pb2.ModelVersion(name=v1, description="the first")
    yield (
        "update version",
        api.call(
            "UpdateModelVersion", reg.UpdateModelVersionRequest(model_version=described, update_mask=mask)
        ),
    )
    alias = model_pb2.ModelAlias(name="models/fraud/aliases/prod", version=v1)
    yield "set alias", api.call("SetModelAlias", reg.SetModelAliasRequest(alias=alias))
    yield "get alias", api.call("GetModelAlias", reg.GetModelAliasRequest(name=alias.name))
    yield "list aliases", api.call("ListModelAliases", reg.ListModelAliasesRequest(parent="models/fraud"))

    traffic = [deployment_pb2.TrafficTarget(version=v1, percent=100)]
    deployment = deployment_pb2.Deployment(model="models/fraud", traffic=traffic)
    yield (
        "create deployment",
        api.call(
            "CreateDeployment", dep.CreateDeploymentRequest(deployment=deployment, deployment_id="live")
        ),
    )
    yield "get deployment", api.call("GetDeployment", dep.GetDeploymentRequest(name="deployments/live"))
    yield "list deployments", api.call("ListDeployments", dep.ListDeploymentsRequest())
    split = deployment_pb2.Deployment(
        name="deployments/live",
        traffic=[
            deployment_pb2.TrafficTarget(version=v1, percent=50),
            deployment_pb2.TrafficTarget(version="models/fraud/versions/2", percent=50),
        ],
    )
    yield (
        "update deployment",
        api.call(
            "UpdateDeployment",
            dep.UpdateDeploymentRequest(
                deployment=split, update_mask=field_mask_pb2.FieldMask(paths=["traffic"])
            ),
        ),
    )
    yield "rollback", api.call("RollbackDeployment", dep.RollbackDeploymentRequest(name="deployments/live"))
    loaded = deployment_pb2.LoadedVersionStatus(version=v1, ready_instances=1, device="cpu")
    yield (
        "report status",
        api.call(
            "ReportDeploymentStatus",
            dep.ReportDeploymentStatusRequest(
                name="deployments/live", generation=3, loaded_versions=[loaded], reporter="test"
            ),
        ),
    )
    synced = "WATCH_EVENT_TYPE_SYNCED"
    yield (
        "watch",
        api.server_stream(
            "WatchDeployments", dep.WatchDeploymentsRequest(), until=lambda event: event.get("type") == synced
        ),
    )
    yield "audit", api.call("ListAuditEvents", dep.ListAuditEventsRequest(resource="deployments/live"))
    yield (
        "delete deployment",
        api.call("DeleteDeployment", dep.DeleteDeploymentRequest(name="deployments/live")),
    )
    yield "delete alias", api.call("DeleteModelAlias", reg.DeleteModelAliasRequest(name=alias.name))
    yield (
        "delete version",
        api.call("DeleteModelVersion", reg.DeleteModelVersionRequest(name="models/fraud/versions/2")),
    )
    yield "delete model", api.call("DeleteModel", reg.DeleteModelRequest(name="models/fraud", force=True))


def test_every_rpc_gives_the_same_result_over_grpc_and_rest(
    gateway: Envoy,
    channel: grpc.Channel,
    models: ModelsInstance,
    dev_keys: DevKeys,
    new_tenant: Callable[[], str],
) -> None:
    artifact = tiny_model(seed=7)
    # Imports read only from under the artifact storage (or allowed prefixes).
    import_source = models.artifact_dir / "incoming" / "fraud.onnx"
    import_source.parent.mkdir(parents=True, exist_ok=True)
    import_source.write_bytes(artifact)
    over_grpc_api = GrpcApi(channel, bearer(dev_keys, new_tenant()), RPCS)
    over_rest_api = RestApi(gateway, bearer(dev_keys, new_tenant()), RPCS)
    over_grpc = dict(scenario(over_grpc_api, artifact, import_source))
    over_rest = dict(scenario(over_rest_api, artifact, import_source))

    assert over_grpc_api.called == over_rest_api.called == set(RPCS), "every RPC is called both ways"
    assert over_grpc["create model"]["name"] == "models/fraud"
    assert over_grpc["upload"]["state"] == "MODEL_VERSION_STATE_READY"
    assert over_grpc["upload"]["sizeBytes"] == str(len(artifact))  # int64 as a string
    assert [e["type"] for e in over_grpc["watch"]] == ["WATCH_EVENT_TYPE_EXISTING", "WATCH_EVENT_TYPE_SYNCED"]
    for step, result in over_grpc.items():
        assert _masked(over_rest[step]) == _masked(result), step
