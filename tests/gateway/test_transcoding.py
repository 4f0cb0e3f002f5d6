"""REST at the edge: unknown paths and parameters, body limits, and gRPC errors as HTTP statuses."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator

import grpc
import pytest

from aiplat.models.v1 import model_pb2, registry_service_pb2, registry_service_pb2_grpc
from services.models.validation import MAX_DESCRIPTION
from services.runtime.devkeys import DevKeys
from services.runtime.server import DEFAULT_MAX_MESSAGE_BYTES

from .support import MAX_RESPONSE_BODY_BYTES, Envoy, Reply, bearer, rest

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
    # Without "=" the transcoder would skip a parameter, and a misspelt flag would go unnoticed.
    for query in ("colour", "pageSize=5&colour", "=blue", "pageSize"):
        reply = rest(gateway.address, "GET", f"/v1/models?{query}", authorization=token)
        assert (reply.status, json.loads(reply.body)) == (
            400,
            {"code": 3, "message": "every query parameter must be name=value"},
        ), query
    assert rest(gateway.address, "GET", "/v1/models?pageSize=5&&", authorization=token).status == 200
    # Identity first: without a token the answer is still 401.
    assert rest(gateway.address, "GET", "/v1/models?colour").status == 401


BODY_LIMIT = 64 * 1024
"""The request limit of the ``gateway`` fixture."""


def _padded_model(size: int) -> bytes:
    """A valid CreateModel body of ``size`` bytes: the padding is JSON whitespace, which the service never
    sees, so only the gateway can refuse it."""
    head, tail = b'{"displayName": "padded"', b"}"
    return head + b" " * (size - len(head) - len(tail)) + tail


def _trickled(address: str, path: str, body: bytes, authorization: str) -> Reply:
    """POST ``body`` in 8 KiB chunks (chunked transfer encoding) with a pause after each, as a slow client
    uploads: the transcoder never holds much of it at once."""
    host, port = address.rsplit(":", 1)
    pieces = [body[start : start + 8192] for start in range(0, len(body), 8192)]

    def trickle() -> Iterator[bytes]:
        for piece in pieces:
            yield piece
            time.sleep(0.02)

    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        headers = {"authorization": authorization, "content-type": "application/json"}
        connection.request("POST", path, body=trickle(), headers=headers, encode_chunked=True)
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


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


def test_a_body_over_the_limit_is_too_large_however_slowly_it_arrives(
    gateway: Envoy, dev_keys: DevKeys, tenant: str
) -> None:
    token = bearer(dev_keys, tenant, "editor")
    address = gateway.address
    fits = _trickled(address, "/v1/models?modelId=fits", _padded_model(BODY_LIMIT), token)
    assert (fits.status, fits.json()["name"]) == (200, "models/fits")
    refused = _trickled(address, "/v1/models?modelId=over", _padded_model(BODY_LIMIT + 1), token)
    assert refused.status == 413
    # Refused at the gateway: the service never created it.
    assert rest(address, "GET", "/v1/models/over", authorization=token).status == 404


def test_grpc_messages_are_not_held_to_the_rest_limit(
    channel: grpc.Channel, dev_keys: DevKeys, tenant: str
) -> None:
    """gRPC streams through the gateway: the service's own limits answer a large message."""
    stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
    metadata = (("authorization", bearer(dev_keys, tenant, "editor")),)
    too_long = model_pb2.Model(display_name="long", description="x" * (2 * BODY_LIMIT))
    with pytest.raises(grpc.RpcError) as invalid:
        stub.CreateModel(
            registry_service_pb2.CreateModelRequest(model=too_long, model_id="long"),
            metadata=metadata,
            timeout=10,
        )
    # The service read the message and found the description too long (it allows MAX_DESCRIPTION).
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    huge = model_pb2.Model(display_name="huge", description="x" * (DEFAULT_MAX_MESSAGE_BYTES + 1))
    with pytest.raises(grpc.RpcError) as exhausted:
        stub.CreateModel(
            registry_service_pb2.CreateModelRequest(model=huge, model_id="huge"),
            metadata=metadata,
            timeout=30,
        )
    assert exhausted.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_by_default_a_rest_body_the_services_would_refuse_is_too_large(
    inference_gateway: Envoy, dev_keys: DevKeys, tenant: str
) -> None:
    """The default REST limit is the services' message limit: a larger body gets 413, not the 429 that
    the service's RESOURCE_EXHAUSTED would become."""
    token = bearer(dev_keys, tenant, "editor")
    huge = {"displayName": "huge", "description": "x" * DEFAULT_MAX_MESSAGE_BYTES}
    reply = rest(inference_gateway.address, "POST", "/v1/models?modelId=huge", body=huge, authorization=token)
    assert reply.status == 413


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
    # message says so, which tells this refusal apart from a failing service.
    assert both.status == 500
    assert both.headers["content-type"] == "application/json"
    assert both.json() == {
        "code": 13,  # INTERNAL
        "message": "Response not transcoded because the transcoder's internal buffer size exceeds the "
        "configured limit.",
    }


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
