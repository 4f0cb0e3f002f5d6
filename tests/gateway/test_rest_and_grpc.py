"""Every RPC of model management through the gateway, over gRPC and over REST, with the same results.

The same scenario runs twice, in two tenants: once with gRPC calls, once with
REST requests built from the contracts' ``google.api.http`` bindings.  The
two transcripts must match once what differs between any two runs (times,
etags, generated ids) is masked.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import grpc
import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor_pool, field_mask_pb2, json_format, message, message_factory

from aiplat.models.v1 import deployment_pb2, deployment_service_pb2, model_pb2, registry_service_pb2
from services.launcher.gateway_rpcs import HttpBinding, Rpc, service_rpcs
from services.runtime.devkeys import DevKeys
from tests.models.onnx_models import sha256, tiny_model

from .support import MODELS, Envoy, ModelsInstance, bearer, rest

pytestmark = pytest.mark.envoy

reg = registry_service_pb2
dep = deployment_service_pb2
RPCS = {rpc.method: rpc for rpc in service_rpcs(MODELS)}
_VARIABLE = re.compile(r"\{([^}=]+)(?:=[^}]*)?\}")
_VOLATILE = {"createTime", "updateTime", "time", "startTime", "lastTransitionTime", "etag"}
_GENERATED_ID = re.compile(r"(operations|auditEvents)/[^/\"]+")


class Api(Protocol):
    """One way to call model management: gRPC or REST, as one tenant."""

    def call(self, method: str, request: message.Message) -> Any: ...

    def upload(self, requests: Sequence[reg.UploadModelVersionRequest]) -> Any: ...

    def watch(self, request: dep.WatchDeploymentsRequest, until: Callable[[Any], bool]) -> list[Any]: ...


def _response_class(rpc: Rpc) -> type[message.Message]:
    method = descriptor_pool.Default().FindMethodByName(f"{rpc.service}.{rpc.method}")
    return message_factory.GetMessageClass(method.output_type)


def _as_json(reply: message.Message) -> Any:
    return json_format.MessageToDict(reply)


class GrpcApi:
    def __init__(self, channel: grpc.Channel, authorization: str, called: set[str]) -> None:
        self._channel = channel
        self._metadata = (("authorization", authorization),)
        self._called = called

    def _callable(self, rpc: Rpc, kind: str) -> Any:
        self._called.add(rpc.method)
        factory = getattr(self._channel, kind)
        return factory(
            rpc.path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=_response_class(rpc).FromString,
        )

    def call(self, method: str, request: message.Message) -> Any:
        return _as_json(
            self._callable(RPCS[method], "unary_unary")(request, metadata=self._metadata, timeout=10)
        )

    def upload(self, requests: Sequence[reg.UploadModelVersionRequest]) -> Any:
        upload = self._callable(RPCS["UploadModelVersion"], "stream_unary")
        return _as_json(upload(iter(requests), metadata=self._metadata, timeout=10))

    def watch(self, request: dep.WatchDeploymentsRequest, until: Callable[[Any], bool]) -> list[Any]:
        stream = self._callable(RPCS["WatchDeployments"], "unary_stream")(
            request, metadata=self._metadata, timeout=10
        )
        events = []
        for event in stream:
            events.append(_as_json(event))
            if until(events[-1]):
                stream.cancel()
                break
        return events


def _field(request: message.Message, proto_path: str) -> Any:
    value: Any = request
    for part in proto_path.split("."):
        value = getattr(value, part)
    return value


def _json_name(request: message.Message, proto_name: str) -> str:
    return str(request.DESCRIPTOR.fields_by_name[proto_name].json_name)


def _query(values: dict[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, json.dumps(item) if isinstance(item, bool) else str(item)))
    return pairs


def _drop(fields: dict[str, Any], request: message.Message, proto_path: str) -> None:
    """Remove the field at ``proto_path`` (bound in the URL) from the request's JSON."""
    holder, owner = fields, request
    *parents, leaf = proto_path.split(".")
    for part in parents:
        holder = holder.get(_json_name(owner, part), {})
        owner = getattr(owner, part)
    holder.pop(_json_name(owner, leaf), None)


def http_request(rpc: Rpc, request: message.Message) -> tuple[str, str, Any]:
    """The REST request of ``request`` for the RPC's main binding: method, path with query, JSON body.

    As a REST client writes it: fields bound in the path are left out of the body; the binding's body
    field (or the whole request for ``*``) is the body; every other field is a query parameter.
    """
    binding: HttpBinding = rpc.bindings[0]
    fields = json_format.MessageToDict(request)
    path = binding.template
    for variable in _VARIABLE.finditer(binding.template):
        proto_path = variable.group(1)
        path = path.replace(variable.group(0), urllib.parse.quote(str(_field(request, proto_path)), safe="/"))
        _drop(fields, request, proto_path)
    method = descriptor_pool.Default().FindMethodByName(f"{rpc.service}.{rpc.method}")
    body_field = method.GetOptions().Extensions[annotations_pb2.http].body
    body: Any = None
    if body_field == "*":
        body, fields = fields, {}
    elif body_field:
        body = fields.pop(_json_name(request, body_field), {})
    query = urllib.parse.urlencode(_query(fields))
    return binding.verb, path + (f"?{query}" if query else ""), body


class RestApi:
    def __init__(self, gateway: Envoy, authorization: str, called: set[str]) -> None:
        self._gateway = gateway
        self._authorization = authorization
        self._called = called

    def _send(self, method: str, path: str, body: Any) -> Any:
        reply = rest(self._gateway.address, method, path, body=body, authorization=self._authorization)
        assert reply.status == 200, (method, path, reply.status, reply.body)
        assert reply.headers["content-type"] == "application/json"
        return reply.json()

    def call(self, method: str, request: message.Message) -> Any:
        self._called.add(method)
        return self._send(*http_request(RPCS[method], request))

    def upload(self, requests: Sequence[reg.UploadModelVersionRequest]) -> Any:
        # A client stream is a JSON array of the messages.
        self._called.add("UploadModelVersion")
        return self._send(
            "POST", RPCS["UploadModelVersion"].bindings[0].template, [_as_json(r) for r in requests]
        )

    def watch(self, request: dep.WatchDeploymentsRequest, until: Callable[[Any], bool]) -> list[Any]:
        # A server stream is newline-delimited JSON, one message per line.
        self._called.add("WatchDeployments")
        method, path, _ = http_request(RPCS["WatchDeployments"], request)
        host, port = self._gateway.address.rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        events: list[Any] = []
        try:
            connection.request(method, path, headers={"authorization": self._authorization})
            response = connection.getresponse()
            assert response.status == 200
            while line := response.readline():
                if line.strip():
                    events.append(json.loads(line))
                    if until(events[-1]):
                        break
        finally:
            connection.close()
        return events


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
        api.upload(
            [
                reg.UploadModelVersionRequest(metadata=upload_metadata),
                reg.UploadModelVersionRequest(chunk=artifact),
            ]
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
    yield "watch", api.watch(dep.WatchDeploymentsRequest(), until=lambda event: event.get("type") == synced)
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
    called_grpc: set[str] = set()
    called_rest: set[str] = set()
    over_grpc = dict(
        scenario(GrpcApi(channel, bearer(dev_keys, new_tenant()), called_grpc), artifact, import_source)
    )
    over_rest = dict(
        scenario(RestApi(gateway, bearer(dev_keys, new_tenant()), called_rest), artifact, import_source)
    )

    assert called_grpc == called_rest == set(RPCS), "every RPC is called both ways"
    assert over_grpc["create model"]["name"] == "models/fraud"
    assert over_grpc["upload"]["state"] == "MODEL_VERSION_STATE_READY"
    assert over_grpc["upload"]["sizeBytes"] == str(len(artifact))  # int64 as a string
    assert [e["type"] for e in over_grpc["watch"]] == ["WATCH_EVENT_TYPE_EXISTING", "WATCH_EVENT_TYPE_SYNCED"]
    for step, result in over_grpc.items():
        assert _masked(over_rest[step]) == _masked(result), step
