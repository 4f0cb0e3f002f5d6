"""Per-tenant token buckets: one tenant running dry leaves the others untouched."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import pytest

from aiplat.models.v1 import registry_service_pb2, registry_service_pb2_grpc
from services.launcher.settings import TenantRateLimits
from services.runtime.devkeys import DevKeys

from .support import (
    Envoy,
    ModelsInstance,
    bearer,
    gateway_settings,
    local_gateway,
    prometheus,
    rest,
    start_envoy,
)

pytestmark = pytest.mark.envoy

BURST = 3
PREMIUM_BURST = 10


@pytest.fixture(scope="module")
def tiny_buckets(
    models: ModelsInstance, tmp_path_factory: pytest.TempPathFactory, dev_keys: DevKeys
) -> Iterator[Envoy]:
    """A gateway whose tenants get 3 calls and then one more every 100 s; `premium` gets 10."""
    settings = gateway_settings(
        control_plane_requests_per_second=0.01,
        control_plane_burst=BURST,
        tenant_rate_limits={"premium": TenantRateLimits(control_plane_burst=PREMIUM_BURST)},
    )
    envoy = start_envoy(local_gateway(settings, dev_keys, [models]), tmp_path_factory.mktemp("tiny"))
    try:
        yield envoy
    finally:
        envoy.stop()


def _list(
    stub: registry_service_pb2_grpc.ModelRegistryServiceStub, authorization: str
) -> tuple[str, dict[str, str]]:
    """The status of one call and its rate-limit headers."""
    try:
        _, call = stub.ListModels.with_call(
            registry_service_pb2.ListModelsRequest(), metadata=(("authorization", authorization),), timeout=10
        )
        return "OK", {k: str(v) for k, v in call.initial_metadata() if k.startswith("x-ratelimit")}
    except grpc.RpcError as error:
        headers = [*error.initial_metadata(), *error.trailing_metadata()]
        return error.code().name, {k: str(v) for k, v in headers if k.startswith("x-ratelimit")}


def test_a_tenant_out_of_tokens_is_limited_while_another_is_served(
    tiny_buckets: Envoy, dev_keys: DevKeys, new_tenant: Callable[[], str]
) -> None:
    tenant_a, tenant_b = new_tenant(), new_tenant()
    token_a, token_b = bearer(dev_keys, tenant_a, "viewer"), bearer(dev_keys, tenant_b, "viewer")
    with grpc.insecure_channel(tiny_buckets.address) as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        served = [_list(stub, token_a) for _ in range(BURST)]
        assert [status for status, _ in served] == ["OK"] * BURST
        assert [headers["x-ratelimit-remaining"] for _, headers in served] == ["2", "1", "0"]

        status, headers = _list(stub, token_a)
        assert status == "RESOURCE_EXHAUSTED"
        assert headers["x-ratelimit-limit"].startswith(str(BURST))
        assert headers["x-ratelimit-remaining"] == "0"
        assert "x-ratelimit-reset" in headers

        refused = rest(tiny_buckets.address, "GET", "/v1/models", authorization=token_a)
        assert refused.status == 429
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert {"x-ratelimit-limit", "x-ratelimit-reset"} <= set(refused.headers)

        # Tenant B at the same moment: its own full bucket, over gRPC and REST.
        status, headers = _list(stub, token_b)
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
