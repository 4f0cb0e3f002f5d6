"""Errors the gateway answers itself: a ``google.rpc.Status`` as JSON for REST clients, as the services'
errors are, and Envoy's trailers-only gRPC status, untouched, for gRPC clients."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import grpc
import pytest

from aiplat.models.v1 import registry_service_pb2, registry_service_pb2_grpc
from services.runtime.devkeys import DevKeys, mint_token

from .support import (
    MODELS,
    Envoy,
    Reply,
    bearer,
    envoy_config,
    gateway_settings,
    rest,
    start_envoy,
    tenantless_bearer,
)

pytestmark = pytest.mark.envoy


def _status(reply: Reply) -> object:
    assert reply.headers["content-type"] == "application/json", reply
    return reply.json()


def _grpc_error(address: str, metadata: tuple[tuple[str, str], ...]) -> tuple[grpc.StatusCode, str]:
    with grpc.insecure_channel(address) as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.ListModels(registry_service_pb2.ListModelsRequest(), metadata=metadata, timeout=10)
    error = raised.value
    return error.code(), error.details()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def no_instance(tmp_path_factory: pytest.TempPathFactory, dev_keys: DevKeys) -> Iterator[Envoy]:
    """A gateway whose only model management instance is never up."""
    upstream = envoy_config.Upstream.local(MODELS, "127.0.0.1", _free_port())
    config = envoy_config.local_config(gateway_settings(), [upstream], jwks_path=dev_keys.jwks_path)
    with start_envoy(config, tmp_path_factory.mktemp("no-instance")) as envoy:
        yield envoy


def test_a_refused_token_is_a_json_status_for_rest_and_a_grpc_status_for_grpc(
    gateway: Envoy, dev_keys: DevKeys, tenant: str
) -> None:
    missing = rest(gateway.address, "GET", "/v1/models")
    assert missing.status == 401
    assert _status(missing) == {"code": 16, "message": "Jwt is missing"}
    assert missing.headers["www-authenticate"].startswith("Bearer")
    elsewhere = mint_token(dev_keys, subject="alice", tenant=tenant, roles=["viewer"], audience="another")
    denied = rest(gateway.address, "GET", "/v1/models", authorization=f"Bearer {elsewhere}")
    assert denied.status == 403
    assert _status(denied) == {"code": 7, "message": "Audiences in Jwt are not allowed"}

    assert _grpc_error(gateway.address, ()) == (grpc.StatusCode.UNAUTHENTICATED, "Jwt is missing")
    assert _grpc_error(gateway.address, (("authorization", f"Bearer {elsewhere}"),)) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "Audiences in Jwt are not allowed",
    )


def test_a_service_refusing_the_token_is_a_401_with_www_authenticate(
    gateway: Envoy, dev_keys: DevKeys, tenant: str
) -> None:
    """A token the gateway accepts but the service refuses (here: no tenant claim) is UNAUTHENTICATED from
    the service; the REST client gets what the gateway's own 401 gives it, a challenge included."""
    refused = rest(gateway.address, "GET", "/v1/models", authorization=tenantless_bearer(dev_keys))
    assert refused.status == 401
    status = _status(refused)
    assert (status["code"], status["details"][0]["reason"]) == (16, "TOKEN_CLAIMS_INVALID")
    assert refused.headers["www-authenticate"].startswith("Bearer"), refused.headers
    # Only a 401 carries the challenge.
    token = bearer(dev_keys, tenant, "viewer")
    served = rest(gateway.address, "GET", "/v1/models", authorization=token)
    assert served.status == 200
    assert "www-authenticate" not in served.headers
    absent = rest(gateway.address, "GET", "/v1/models/absent", authorization=token)
    assert absent.status == 404
    assert "www-authenticate" not in absent.headers


def test_requests_the_transcoder_refuses_get_a_json_status(
    gateway: Envoy, dev_keys: DevKeys, tenant: str
) -> None:
    token = bearer(dev_keys, tenant, "editor")
    unknown = rest(gateway.address, "GET", "/v1/nothing", authorization=token)
    assert unknown.status == 404
    assert _status(unknown) == {"code": 5, "message": "Could not resolve /v1/nothing to a method."}
    wrong_method = rest(gateway.address, "OPTIONS", "/v1/models", authorization=token)
    assert wrong_method.status == 404
    assert _status(wrong_method) == {"code": 5, "message": "Could not resolve /v1/models to a method."}
    unknown_parameter = rest(gateway.address, "GET", "/v1/models?colour=blue", authorization=token)
    assert unknown_parameter.status == 400
    assert _status(unknown_parameter) == {
        "code": 3,
        "message": 'Could not find field "colour" in the type "aiplat.models.v1.ListModelsRequest".',
    }
    not_json = rest(
        gateway.address, "POST", "/v1/models?modelId=x", raw_body=b"{not json", authorization=token
    )
    assert not_json.status == 400
    assert _status(not_json) == {
        "code": 3,
        "message": "Expected : between key:value pair.\n{not json\n     ^",
    }
    too_large = rest(
        gateway.address, "POST", "/v1/models?modelId=x", raw_body=b" " * (100 * 1024), authorization=token
    )
    assert too_large.status == 413
    assert _status(too_large) == {"code": 8, "message": "Payload Too Large"}


def test_no_healthy_instance_is_unavailable_for_rest_and_grpc(
    no_instance: Envoy, dev_keys: DevKeys, tenant: str
) -> None:
    """The router answers after the transcoder has turned the REST call into gRPC; still JSON for REST."""
    token = bearer(dev_keys, tenant, "viewer")
    reply = rest(no_instance.address, "GET", "/v1/models", authorization=token)
    assert reply.status == 503
    assert _status(reply) == {"code": 14, "message": "no healthy upstream"}
    assert _grpc_error(no_instance.address, (("authorization", token),)) == (
        grpc.StatusCode.UNAVAILABLE,
        "no healthy upstream",
    )
