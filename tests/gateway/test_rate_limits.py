"""Token buckets: per tenant and traffic class, and one shared by calls without a tenant; running one dry
leaves the others untouched."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import cast

import grpc
import pytest
from google.protobuf import message
from grpc_health.v1 import health_pb2

from aiplat.models.v1 import registry_service_pb2
from inference import grpc_service_pb2 as inference_pb
from services.launcher.settings import TenantRateLimits
from services.runtime.devkeys import DevKeys, mint_token
from tests.inference.platform import InferenceService

from .support import (
    Envoy,
    ModelsInstance,
    bearer,
    gateway_settings,
    local_gateway,
    prometheus,
    rest,
    start_envoy,
    tampered,
    tenantless_bearer,
)

pytestmark = pytest.mark.envoy

BURST = 3
PREMIUM_BURST = 10
INFERENCE_BURST = 5
UNTENANTED_BURST = 4
"""BURST, INFERENCE_BURST and UNTENANTED_BURST differ, so ``x-ratelimit-limit`` names the bucket a call
drew from."""

LIST_MODELS = "/aiplat.models.v1.ModelRegistryService/ListModels"
MODEL_READY = "/inference.GRPCInferenceService/ModelReady"
SERVER_LIVE = "/inference.GRPCInferenceService/ServerLive"
SERVER_READY = "/inference.GRPCInferenceService/ServerReady"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
UNKNOWN_METHOD = "/aiplat.models.v1.ModelRegistryService/Nothing"
REFLECTION_V1 = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
"""What grpcurl asks first; the gateway routes only ``v1alpha``."""


def _tiny_gateway(models: ModelsInstance, inference: InferenceService, workdir: Path, keys: DevKeys) -> Envoy:
    """A gateway whose buckets hold a few calls and then refill one every 100 s: per tenant 3 management
    calls (`premium`: 10) and 5 inference calls, and 4 calls shared by all callers without a tenant."""
    slow = 0.01
    settings = gateway_settings(
        control_plane_requests_per_second=slow,
        control_plane_burst=BURST,
        inference_requests_per_second=slow,
        inference_burst=INFERENCE_BURST,
        untenanted_requests_per_second=slow,
        untenanted_burst=UNTENANTED_BURST,
        tenant_rate_limits={"premium": TenantRateLimits(control_plane_burst=PREMIUM_BURST)},
    )
    config = local_gateway(settings, keys, [models], inference_ports=[inference.handle.port])
    return start_envoy(config, workdir)


@pytest.fixture(scope="module")
def tiny_buckets(
    models: ModelsInstance,
    inference: InferenceService,
    tmp_path_factory: pytest.TempPathFactory,
    dev_keys: DevKeys,
) -> Iterator[Envoy]:
    """Only ``test_calls_without_a_tenant_share_one_bucket`` may call this gateway without a tenant: it
    counts the shared bucket down from full."""
    with _tiny_gateway(models, inference, tmp_path_factory.mktemp("tiny"), dev_keys) as envoy:
        yield envoy


@pytest.fixture(scope="module")
def tiny_buckets_of_its_own(
    models: ModelsInstance,
    inference: InferenceService,
    tmp_path_factory: pytest.TempPathFactory,
    dev_keys: DevKeys,
) -> Iterator[Envoy]:
    """Another such gateway, for a test that needs the shared bucket full when it starts."""
    with _tiny_gateway(models, inference, tmp_path_factory.mktemp("tiny-own"), dev_keys) as envoy:
        yield envoy


def _call(
    channel: grpc.Channel, path: str, request: message.Message, authorization: str | None
) -> tuple[str, dict[str, str]]:
    """The status of one unary call and its rate-limit headers."""
    call = channel.unary_unary(
        path, request_serializer=lambda m: m.SerializeToString(), response_deserializer=lambda b: b
    )
    metadata = () if authorization is None else (("authorization", authorization),)
    try:
        _, done = call.with_call(request, metadata=metadata, timeout=10)
        return "OK", {k: str(v) for k, v in done.initial_metadata() if k.startswith("x-ratelimit")}
    except grpc.RpcError as error:
        failed = cast(grpc.Call, error)  # the error of a blocking call is the call itself
        headers = [*failed.initial_metadata(), *failed.trailing_metadata()]
        return failed.code().name, {k: str(v) for k, v in headers if k.startswith("x-ratelimit")}


def _list(channel: grpc.Channel, authorization: str | None) -> tuple[str, dict[str, str]]:
    return _call(channel, LIST_MODELS, registry_service_pb2.ListModelsRequest(), authorization)


def _model_ready(channel: grpc.Channel, authorization: str | None) -> tuple[str, dict[str, str]]:
    # Served (ready: false) for a model nobody deployed, so no deployment is needed to call it.
    return _call(channel, MODEL_READY, inference_pb.ModelReadyRequest(name="absent"), authorization)


def _limit(headers: dict[str, str]) -> int:
    """The size of the bucket a call drew from."""
    return int(headers["x-ratelimit-limit"])


def test_a_tenant_out_of_tokens_is_limited_while_another_is_served(
    tiny_buckets: Envoy, dev_keys: DevKeys, new_tenant: Callable[[], str]
) -> None:
    tenant_a, tenant_b = new_tenant(), new_tenant()
    token_a, token_b = bearer(dev_keys, tenant_a, "viewer"), bearer(dev_keys, tenant_b, "viewer")
    with grpc.insecure_channel(tiny_buckets.address) as channel:
        served = [_list(channel, token_a) for _ in range(BURST)]
        assert [status for status, _ in served] == ["OK"] * BURST
        assert [headers["x-ratelimit-remaining"] for _, headers in served] == ["2", "1", "0"]

        status, headers = _list(channel, token_a)
        assert status == "RESOURCE_EXHAUSTED"
        assert headers["x-ratelimit-limit"].startswith(str(BURST))
        assert headers["x-ratelimit-remaining"] == "0"
        assert "x-ratelimit-reset" in headers

        refused = rest(tiny_buckets.address, "GET", "/v1/models", authorization=token_a)
        assert refused.status == 429
        assert refused.headers["content-type"] == "application/json"
        assert refused.json() == {"code": 8, "message": "local_rate_limited"}  # RESOURCE_EXHAUSTED
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert {"x-ratelimit-limit", "x-ratelimit-reset"} <= set(refused.headers)

        # Tenant B at the same moment: its own full bucket, over gRPC and REST.
        status, headers = _list(channel, token_b)
        assert (status, headers["x-ratelimit-remaining"]) == ("OK", "2")
        served_rest = rest(tiny_buckets.address, "GET", "/v1/models", authorization=token_b)
        assert served_rest.status == 200
        assert served_rest.headers["x-ratelimit-remaining"] == "1"
    limited = (
        'envoy_http_local_rate_limit_rate_limited{envoy_local_http_ratelimit_prefix="tenant_rate_limit"}'
    )
    assert prometheus(tiny_buckets)[limited] >= 2


def test_a_tenant_with_its_own_size_gets_a_bigger_bucket(tiny_buckets: Envoy, dev_keys: DevKeys) -> None:
    reply = rest(
        tiny_buckets.address, "GET", "/v1/models", authorization=bearer(dev_keys, "premium", "viewer")
    )
    assert reply.status == 200
    assert reply.headers["x-ratelimit-limit"].startswith(str(PREMIUM_BURST))
    assert reply.headers["x-ratelimit-remaining"] == str(PREMIUM_BURST - 1)


def test_a_tenant_out_of_inference_calls_can_still_manage_models(
    tiny_buckets: Envoy, dev_keys: DevKeys, tenant: str
) -> None:
    token = bearer(dev_keys, tenant, "viewer")
    with grpc.insecure_channel(tiny_buckets.address) as channel:
        served = [_model_ready(channel, token) for _ in range(INFERENCE_BURST)]
        assert [status for status, _ in served] == ["OK"] * INFERENCE_BURST
        assert [headers["x-ratelimit-remaining"] for _, headers in served] == ["4", "3", "2", "1", "0"]
        assert {_limit(headers) for _, headers in served} == {INFERENCE_BURST}

        status, headers = _model_ready(channel, token)
        assert (status, _limit(headers), headers["x-ratelimit-remaining"]) == (
            "RESOURCE_EXHAUSTED",
            INFERENCE_BURST,
            "0",
        )
        assert rest(tiny_buckets.address, "GET", "/v2/models/absent/ready", authorization=token).status == 429

        status, headers = _list(channel, token)
        assert (status, _limit(headers), headers["x-ratelimit-remaining"]) == ("OK", BURST, str(BURST - 1))
    assert rest(tiny_buckets.address, "GET", "/v1/models", authorization=token).status == 200


def test_a_tenant_out_of_management_calls_can_still_infer(
    tiny_buckets: Envoy, dev_keys: DevKeys, tenant: str
) -> None:
    token = bearer(dev_keys, tenant, "viewer")
    with grpc.insecure_channel(tiny_buckets.address) as channel:
        assert [_list(channel, token)[0] for _ in range(BURST)] == ["OK"] * BURST
        status, headers = _list(channel, token)
        assert (status, _limit(headers)) == ("RESOURCE_EXHAUSTED", BURST)

        status, headers = _model_ready(channel, token)
        assert (status, _limit(headers), headers["x-ratelimit-remaining"]) == (
            "OK",
            INFERENCE_BURST,
            str(INFERENCE_BURST - 1),
        )
    served = rest(tiny_buckets.address, "GET", "/v2/models/absent/ready", authorization=token)
    assert (served.status, served.json()) == (200, {})  # ready: false, the default, is left out
    assert served.headers["x-ratelimit-remaining"] == str(INFERENCE_BURST - 2)


def test_calls_without_a_tenant_share_one_bucket(tiny_buckets: Envoy, dev_keys: DevKeys, tenant: str) -> None:
    """Open endpoints without a token, and tokens without a tenant claim, draw from the default bucket;
    running it dry leaves every tenant's buckets untouched, open endpoints included."""
    no_tenant = tenantless_bearer(dev_keys)
    token = bearer(dev_keys, tenant, "viewer")
    address = tiny_buckets.address
    with grpc.insecure_channel(address) as channel:
        drawn = [
            _call(channel, SERVER_LIVE, inference_pb.ServerLiveRequest(), None),
            _call(channel, HEALTH_CHECK, health_pb2.HealthCheckRequest(), None),
            # The service refuses a token without a tenant, but the gateway counted the call first.
            _model_ready(channel, no_tenant),
        ]
        assert [status for status, _ in drawn] == ["OK", "OK", "UNAUTHENTICATED"]
        assert [headers["x-ratelimit-remaining"] for _, headers in drawn] == ["3", "2", "1"]
        assert {_limit(headers) for _, headers in drawn} == {UNTENANTED_BURST}
        last = rest(address, "GET", "/v2/health/ready")
        assert (last.status, last.headers["x-ratelimit-remaining"]) == (200, "0")

        status, headers = _call(channel, SERVER_READY, inference_pb.ServerReadyRequest(), None)
        assert (status, _limit(headers)) == ("RESOURCE_EXHAUSTED", UNTENANTED_BURST)
        assert _list(channel, no_tenant)[0] == "RESOURCE_EXHAUSTED"
        assert _model_ready(channel, no_tenant)[0] == "RESOURCE_EXHAUSTED"
        refused = rest(address, "GET", "/v2")
        assert (refused.status, refused.headers["x-ratelimit-remaining"]) == (429, "0")

        # A tenant's calls come from its own full buckets.
        status, headers = _list(channel, token)
        assert (status, _limit(headers), headers["x-ratelimit-remaining"]) == ("OK", BURST, str(BURST - 1))
        status, headers = _model_ready(channel, token)
        assert (status, _limit(headers)) == ("OK", INFERENCE_BURST)
        # An open endpoint called with a token draws from its tenant's bucket, not the drained one.
        status, headers = _call(channel, SERVER_READY, inference_pb.ServerReadyRequest(), token)
        assert (status, _limit(headers)) == ("OK", INFERENCE_BURST)
        assert rest(address, "GET", "/v2/health/live", authorization=token).status == 200


def test_calls_that_match_no_route_draw_from_the_callers_bucket(
    tiny_buckets_of_its_own: Envoy, dev_keys: DevKeys, new_tenant: Callable[[], str]
) -> None:
    """Unknown paths, methods and services have no service to take a traffic class from: a tenant pays
    for them from its management bucket, and the bucket shared by callers without a tenant stays full."""
    address = tiny_buckets_of_its_own.address
    token, other = bearer(dev_keys, new_tenant(), "viewer"), bearer(dev_keys, new_tenant(), "viewer")
    empty = registry_service_pb2.ListModelsRequest()
    with grpc.insecure_channel(address) as channel:
        drawn = [_call(channel, UNKNOWN_METHOD, empty, token), _call(channel, REFLECTION_V1, empty, token)]
        assert [status for status, _ in drawn] == ["UNIMPLEMENTED", "UNIMPLEMENTED"]
        assert [(_limit(headers), headers["x-ratelimit-remaining"]) for _, headers in drawn] == [
            (BURST, "2"),
            (BURST, "1"),
        ]
        last = rest(address, "GET", "/v1/nothing", authorization=token)
        assert (last.status, _limit(dict(last.headers)), last.headers["x-ratelimit-remaining"]) == (
            404,
            BURST,
            "0",
        )
        # The tenant's management bucket is dry: its next unrouted calls are refused from it.
        status, headers = _call(channel, REFLECTION_V1, empty, token)
        assert (status, _limit(headers)) == ("RESOURCE_EXHAUSTED", BURST)
        for method in ("HEAD", "OPTIONS", "GET"):
            refused = rest(address, method, "/v1/nothing", authorization=token)
            assert (refused.status, _limit(dict(refused.headers))) == (429, BURST), method
    # Methods no route takes, from a tenant with tokens left.
    for method, remaining in (("HEAD", "2"), ("OPTIONS", "1")):
        answered = rest(address, method, "/v1/models", authorization=other)
        assert (answered.status, answered.headers["x-ratelimit-remaining"]) == (404, remaining), method

    live = rest(address, "GET", "/v2/health/live")
    assert (live.status, _limit(dict(live.headers))) == (200, UNTENANTED_BURST)
    assert live.headers["x-ratelimit-remaining"] == str(UNTENANTED_BURST - 1)


def test_a_flood_of_bad_tokens_runs_the_shared_bucket_dry_while_tenants_are_served(
    models: ModelsInstance,
    inference: InferenceService,
    tmp_path: Path,
    dev_keys: DevKeys,
    new_tenant: Callable[[], str],
) -> None:
    """A call whose token fails has no tenant: it is refused after drawing from the shared bucket, so a
    flood of them is refused with RESOURCE_EXHAUSTED once that bucket is dry, and never reaches the
    strict token check; a tenant with a valid token is served at the same moment."""
    flood = 4 * UNTENANTED_BURST
    # Each a different token, so that no cache of verified tokens could answer for them.
    bad = [
        f"Bearer {tampered(mint_token(dev_keys, subject='mallory', tenant=new_tenant(), roles=['admin']))}"
        for _ in range(flood)
    ]
    good = bearer(dev_keys, new_tenant(), "viewer")
    with (
        _tiny_gateway(models, inference, tmp_path, dev_keys) as envoy,
        grpc.insecure_channel(envoy.address) as channel,
        ThreadPoolExecutor(max_workers=16) as pool,
    ):
        answers = list(pool.map(lambda token: _list(channel, token), bad))
        assert Counter(status for status, _ in answers) == {
            "UNAUTHENTICATED": UNTENANTED_BURST,
            "RESOURCE_EXHAUSTED": flood - UNTENANTED_BURST,
        }
        assert {_limit(headers) for _, headers in answers} == {UNTENANTED_BURST}
        refused = rest(envoy.address, "GET", "/v1/models", authorization=bad[0])
        assert (refused.status, refused.json()["code"]) == (429, 8)  # RESOURCE_EXHAUSTED
        assert (_limit(dict(refused.headers)), refused.headers["x-ratelimit-remaining"]) == (
            UNTENANTED_BURST,
            "0",
        )
        assert rest(envoy.address, "GET", "/v1/models").status == 429  # no token: the same bucket

        status, headers = _list(channel, good)
        assert (status, _limit(headers), headers["x-ratelimit-remaining"]) == ("OK", BURST, str(BURST - 1))
        served = rest(envoy.address, "GET", "/v1/models", authorization=good)
        assert (served.status, served.headers["x-ratelimit-remaining"]) == (200, str(BURST - 2))
        # The strict token check ran for the calls the shared bucket let through, and no others.
        denied = 'envoy_http_jwt_authn_denied{envoy_http_conn_manager_prefix="gateway"}'
        assert prometheus(envoy)[denied] == UNTENANTED_BURST
