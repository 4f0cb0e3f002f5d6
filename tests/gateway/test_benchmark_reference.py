"""The benchmark's reference gateway: the platform's Envoy configuration with only the router left."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from aiplat.models.v1 import registry_service_pb2, registry_service_pb2_grpc
from benchmarks.bare_gateway import ROUTER, bare_config, bare_gateway
from services.runtime.devkeys import DevKeys

from .support import Envoy, bearer

pytestmark = pytest.mark.envoy


def _list_models(address: str, authorization: str | None) -> int:
    metadata = () if authorization is None else (("authorization", authorization),)
    with grpc.insecure_channel(address) as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        reply = stub.ListModels(registry_service_pb2.ListModelsRequest(), metadata=metadata, timeout=10)
    return len(reply.models)


def test_the_bare_gateway_proxies_with_the_router_alone(
    gateway: Envoy, dev_keys: DevKeys, tenant: str, tmp_path: Path
) -> None:
    config_path = gateway.log_path.parent / "envoy.json"
    with bare_gateway(config_path, tmp_path) as bare:
        token = bearer(dev_keys, tenant, "viewer")
        assert _list_models(bare.address, token) == _list_models(gateway.address, token)
        # No authentication at the edge: the service's own check answers instead of Envoy's.
        with pytest.raises(grpc.RpcError) as refused:
            _list_models(bare.address, None)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "Jwt is missing" not in (refused.value.details() or "")


def test_the_bare_config_keeps_routes_and_clusters(gateway: Envoy) -> None:
    config = json.loads((gateway.log_path.parent / "envoy.json").read_text())
    bare = bare_config(config)
    (listener,) = bare["static_resources"]["listeners"]
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    assert [f["name"] for f in manager["http_filters"]] == [ROUTER]
    assert "access_log" not in manager
    assert listener["address"]["socket_address"]["port_value"] == 0
    assert bare["static_resources"]["clusters"] == config["static_resources"]["clusters"]
    original = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    assert manager["route_config"] == original["route_config"]
