"""Tokens at the gateway: which ones pass, the exact status of those that do not, and no smuggled identity."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import cast

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aiplat.models.v1 import model_pb2, registry_service_pb2, registry_service_pb2_grpc
from inference import grpc_service_pb2 as inference_pb
from inference import grpc_service_pb2_grpc as inference_grpc
from services.inference.servicer import SERVER_NAME
from services.runtime.devkeys import DevKeys, ensure_dev_keys, mint_token

from .support import Envoy, gateway_settings, rest, tampered

pytestmark = pytest.mark.envoy

pb = registry_service_pb2


@pytest.fixture(scope="module")
def stranger_keys(tmp_path_factory: pytest.TempPathFactory) -> DevKeys:
    """A key pair the gateway does not trust."""
    return ensure_dev_keys(tmp_path_factory.mktemp("stranger"))


def _tokens(keys: DevKeys, stranger: DevKeys, tenant: str) -> dict[str, str | None]:
    def make(key: DevKeys = keys, **claims: object) -> str:
        return mint_token(key, subject="alice", tenant=tenant, roles=["viewer"], **claims)

    return {
        "none": None,
        "expired": make(now=time.time() - 7200, ttl_seconds=3600),
        "tampered signature": tampered(make()),
        "unknown key": make(stranger),
        "wrong issuer": make(issuer="https://issuer.example.internal"),
        "wrong audience": make(audience="another-audience"),
        "good": make(),
    }


GRPC_EXPECTED = {
    "none": grpc.StatusCode.UNAUTHENTICATED,
    "expired": grpc.StatusCode.UNAUTHENTICATED,
    "tampered signature": grpc.StatusCode.UNAUTHENTICATED,
    "unknown key": grpc.StatusCode.UNAUTHENTICATED,
    "wrong issuer": grpc.StatusCode.UNAUTHENTICATED,
    "wrong audience": grpc.StatusCode.PERMISSION_DENIED,
    "good": grpc.StatusCode.OK,
}
REST_EXPECTED = {
    "none": 401,
    "expired": 401,
    "tampered signature": 401,
    "unknown key": 401,
    "wrong issuer": 401,
    "wrong audience": 403,
    "good": 200,
}


RATE_LIMIT_HEADERS = {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"}
UNTENANTED_BURST = gateway_settings().untenanted_burst
"""The size of the bucket shared by calls without a (verified) tenant, in the session's gateway."""


@pytest.mark.parametrize("kind", list(GRPC_EXPECTED))
def test_grpc_status_for_each_kind_of_token(
    kind: str, channel: grpc.Channel, dev_keys: DevKeys, stranger_keys: DevKeys, tenant: str
) -> None:
    token = _tokens(dev_keys, stranger_keys, tenant)[kind]
    metadata = () if token is None else (("authorization", f"Bearer {token}"),)
    stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
    try:
        _, call = stub.ListModels.with_call(pb.ListModelsRequest(), metadata=metadata, timeout=10)
    except grpc.RpcError as error:
        call = cast(grpc.Call, error)  # the error of a blocking call is the call itself
    assert call.code() == GRPC_EXPECTED[kind]
    headers = {k: str(v) for k, v in [*call.initial_metadata(), *(call.trailing_metadata() or ())]}
    assert set(headers) >= RATE_LIMIT_HEADERS
    if kind != "good":
        # Refused after the rate limit, from the bucket of the callers without a tenant.
        assert int(headers["x-ratelimit-limit"]) == UNTENANTED_BURST


@pytest.mark.parametrize("kind", list(REST_EXPECTED))
def test_rest_status_for_each_kind_of_token(
    kind: str, gateway: Envoy, dev_keys: DevKeys, stranger_keys: DevKeys, tenant: str
) -> None:
    token = _tokens(dev_keys, stranger_keys, tenant)[kind]
    reply = rest(
        gateway.address, "GET", "/v1/models", authorization=None if token is None else f"Bearer {token}"
    )
    assert reply.status == REST_EXPECTED[kind]
    if reply.status == 401:
        assert reply.headers["www-authenticate"].startswith("Bearer")
    if reply.status == 200:
        assert reply.json() == {}
    assert set(reply.headers) >= RATE_LIMIT_HEADERS
    if kind != "good":
        assert int(reply.headers["x-ratelimit-limit"]) == UNTENANTED_BURST


def test_identity_headers_without_a_token_are_rejected(
    channel: grpc.Channel, gateway: Envoy, tenant: str
) -> None:
    smuggled = (("x-aiplat-tenant", tenant), ("x-aiplat-subject", "alice"), ("x-aiplat-roles", "admin"))
    stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
    with pytest.raises(grpc.RpcError) as raised:
        stub.ListModels(pb.ListModelsRequest(), metadata=smuggled, timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    reply = rest(gateway.address, "GET", "/v1/models", headers=dict(smuggled))
    assert reply.status == 401


def test_the_service_sees_only_the_tenant_of_the_token(
    channel: grpc.Channel, gateway: Envoy, dev_keys: DevKeys, new_tenant: Callable[[], str]
) -> None:
    tenant_a, tenant_b = new_tenant(), new_tenant()
    token_a = mint_token(dev_keys, subject="smuggler-a", tenant=tenant_a, roles=["editor"])
    token_b = mint_token(dev_keys, subject="bob", tenant=tenant_b, roles=["admin"])
    stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
    smuggling = (
        ("authorization", f"Bearer {token_a}"),
        ("x-aiplat-tenant", tenant_b),
        ("x-aiplat-subject", "bob"),
        ("x-aiplat-roles", "admin"),
    )
    # The service refuses headers that disagree with the token, so success means they were replaced.
    created = stub.CreateModel(
        pb.CreateModelRequest(model=model_pb2.Model(display_name="A's"), model_id="secret"),
        metadata=smuggling,
        timeout=10,
    )
    assert created.name == "models/secret"
    as_a = stub.GetModel(pb.GetModelRequest(name="models/secret"), metadata=smuggling, timeout=10)
    assert as_a.display_name == "A's"
    with pytest.raises(grpc.RpcError) as hidden:
        stub.GetModel(
            pb.GetModelRequest(name="models/secret"),
            metadata=(("authorization", f"Bearer {token_b}"),),
            timeout=10,
        )
    assert hidden.value.code() == grpc.StatusCode.NOT_FOUND

    reply = rest(
        gateway.address,
        "GET",
        "/v1/models/secret",
        authorization=f"Bearer {token_a}",
        headers={"x-aiplat-tenant": tenant_b, "X-AIPLAT-ROLES": "admin"},
    )
    assert reply.status == 200
    assert reply.json()["displayName"] == "A's"
    logged = gateway.wait_for_log(lambda r: r["subject"] == "smuggler-a" and r["path"] == "/v1/models/secret")
    assert logged["tenant"] == tenant_a
    # A list claim travels as base64 of its JSON.
    assert json.loads(base64.b64decode(logged["roles"])) == ["editor"]


def test_health_is_open_and_everything_else_needs_a_token(channel: grpc.Channel, gateway: Envoy) -> None:
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert rest(gateway.address, "GET", "/v1/deployments").status == 401
    assert rest(gateway.address, "GET", "/v1/auditEvents").status == 401


def test_inference_health_and_server_metadata_are_open_and_model_calls_need_a_token(
    inference_gateway: Envoy,
) -> None:
    with grpc.insecure_channel(inference_gateway.address) as opened:
        inference = inference_grpc.GRPCInferenceServiceStub(opened)
        assert inference.ServerLive(inference_pb.ServerLiveRequest(), timeout=10).live
        assert inference.ServerReady(inference_pb.ServerReadyRequest(), timeout=10).ready
        server = inference.ServerMetadata(inference_pb.ServerMetadataRequest(), timeout=10)
        assert server.name == SERVER_NAME
        health = health_pb2_grpc.HealthStub(opened).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as raised:
            inference.ModelMetadata(inference_pb.ModelMetadataRequest(name="absent"), timeout=10)
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED

    address = inference_gateway.address
    assert rest(address, "GET", "/v2/health/live").json() == {"live": True}
    assert rest(address, "GET", "/v2/health/ready").json() == {"ready": True}
    metadata = rest(address, "GET", "/v2")
    assert metadata.status == 200
    assert metadata.json()["name"] == SERVER_NAME
    for method, path in (("GET", "/v2/models/absent"), ("GET", "/v2/models/absent/ready"), ("POST", "/v2")):
        refused = rest(address, method, path)
        # The open rule for /v2 is GET only; any other method on it needs a token like everything else.
        assert refused.status == 401, (method, path)
        assert refused.headers["www-authenticate"].startswith("Bearer"), (method, path)


def test_a_failed_token_leaves_no_identity_behind(
    channel: grpc.Channel, gateway: Envoy, dev_keys: DevKeys, tenant: str
) -> None:
    """On an open method a failed token is no error, but neither it nor the client's own headers give
    the call a tenant: it draws from the shared bucket."""
    bad = tampered(mint_token(dev_keys, subject="mallory", tenant=tenant, roles=["admin"]))
    smuggled = (
        ("authorization", f"Bearer {bad}"),
        ("x-aiplat-tenant", tenant),
        ("x-aiplat-subject", "mallory"),
        ("x-aiplat-roles", "admin"),
    )
    reply, call = health_pb2_grpc.HealthStub(channel).Check.with_call(
        health_pb2.HealthCheckRequest(), metadata=smuggled, timeout=10
    )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    headers = {k: str(v) for k, v in call.initial_metadata()}
    # The tenant's management bucket is another size: the call had no tenant when it was counted.
    assert gateway_settings().control_plane_burst != UNTENANTED_BURST
    assert int(headers["x-ratelimit-limit"]) == UNTENANTED_BURST
