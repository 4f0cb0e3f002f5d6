"""REST at the edge: unknown paths and parameters, body limits, and gRPC errors as HTTP statuses."""

from __future__ import annotations

import grpc
import pytest

from services.models.validation import MAX_DESCRIPTION
from services.runtime.devkeys import DevKeys

from .support import MAX_RESPONSE_BODY_BYTES, Envoy, bearer, rest

pytestmark = pytest.mark.envoy


def test_an_unknown_path_is_not_found(gateway: Envoy, dev_keys: DevKeys, tenant: str) -> None:
    token = bearer(dev_keys, tenant, "viewer")
    assert rest(gateway.address, "GET", "/v1/nothing", authorization=token).status == 404
    assert rest(gateway.address, "GET", "/v1/models/fraud/nothing", authorization=token).status == 404
    # A known path with a method it is not bound to.
    assert rest(gateway.address, "PUT", "/v1/models", authorization=token, body={}).status == 404


def test_an_unknown_grpc_method_is_unimplemented(
    channel: grpc.Channel, dev_keys: DevKeys, tenant: str
) -> None:
    call = channel.unary_unary(
        "/aiplat.models.v1.ModelRegistryService/Nothing",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    with pytest.raises(grpc.RpcError) as raised:
        call(b"", metadata=(("authorization", bearer(dev_keys, tenant, "viewer")),), timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_an_unknown_query_parameter_is_a_bad_request(gateway: Envoy, dev_keys: DevKeys, tenant: str) -> None:
    token = bearer(dev_keys, tenant, "viewer")
    assert rest(gateway.address, "GET", "/v1/models?pageSize=5", authorization=token).status == 200
    reply = rest(gateway.address, "GET", "/v1/models?pageSize=5&colour=blue", authorization=token)
    assert reply.status == 400
    assert b"colour" in reply.body


def test_a_body_over_the_limit_is_too_large(gateway: Envoy, dev_keys: DevKeys, tenant: str) -> None:
    token = bearer(dev_keys, tenant, "editor")
    big = {"displayName": "big", "description": "x" * (100 * 1024)}  # the test gateway allows 64 KiB
    reply = rest(gateway.address, "POST", "/v1/models?modelId=big", body=big, authorization=token)
    assert reply.status == 413
    small = {"displayName": "small", "description": "x" * 1024}
    assert (
        rest(gateway.address, "POST", "/v1/models?modelId=small", body=small, authorization=token).status
        == 200
    )


def test_a_response_over_the_limit_is_not_transcoded(
    inference_gateway: Envoy, dev_keys: DevKeys, tenant: str
) -> None:
    token = bearer(dev_keys, tenant, "editor")
    described = {"description": "x" * MAX_DESCRIPTION}
    for model_id in ("first", "second"):
        path = f"/v1/models?modelId={model_id}"
        assert (
            rest(inference_gateway.address, "POST", path, body=described, authorization=token).status == 200
        )
    one = rest(inference_gateway.address, "GET", "/v1/models?pageSize=1", authorization=token)
    assert one.status == 200
    assert len(one.body) < MAX_RESPONSE_BODY_BYTES < 2 * MAX_DESCRIPTION
    both = rest(inference_gateway.address, "GET", "/v1/models", authorization=token)
    # Envoy answers an oversized response with 500 (413 would blame the client's request), and the
    # body says so, which tells this refusal apart from a failing service.
    assert both.status == 500
    assert b"exceeds the configured limit" in both.body


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/v1/models/absent", None, 404),
        ("POST", "/v1/models?modelId=Not_Valid", {}, 400),
        ("GET", "/v1/deployments/absent", None, 404),
    ],
)
def test_grpc_errors_become_http_statuses(
    gateway: Envoy, dev_keys: DevKeys, tenant: str, method: str, path: str, body: object, status: int
) -> None:
    reply = rest(gateway.address, method, path, body=body, authorization=bearer(dev_keys, tenant, "editor"))
    assert reply.status == status


def test_grpc_errors_carry_a_json_status_body(gateway: Envoy, dev_keys: DevKeys, tenant: str) -> None:
    reply = rest(
        gateway.address, "GET", "/v1/models/absent", authorization=bearer(dev_keys, tenant, "viewer")
    )
    assert reply.status == 404
    assert reply.headers["content-type"] == "application/json"
    status = reply.json()
    assert status["code"] == 5
    assert status["details"][0]["reason"] == "MODEL_NOT_FOUND"
