"""Domain errors reach clients as google.rpc.Status with details; surprises as a bare INTERNAL."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from google.protobuf import message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from aiplat.models.v1 import model_pb2, registry_service_pb2
from services.runtime.errors import InvalidArgument, ResourceExhausted
from services.runtime.logging import JsonFormatter
from services.runtime.transport.errors import (
    DETAILS_BUDGET,
    INTERNAL_MESSAGE,
    MAX_DETAIL_TEXT,
    MESSAGE_BUDGET,
    to_status_proto,
)

from .conftest import TokenFactory
from .support import RunningServer, bearer


def _detail(status: status_pb2.Status, kind: type[message.Message]) -> message.Message:
    for detail in status.details:
        if detail.Is(kind.DESCRIPTOR):
            unpacked = kind()
            detail.Unpack(unpacked)
            return unpacked
    raise AssertionError(f"no {kind.DESCRIPTOR.full_name} in {status}")


async def _status_of(call: object) -> tuple[grpc.aio.AioRpcError, status_pb2.Status]:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    status = rpc_status.from_call(raised.value)
    assert status is not None
    return raised.value, status


async def test_not_found_carries_its_reason_and_metadata(
    server: RunningServer, make_token: TokenFactory
) -> None:
    request = registry_service_pb2.GetModelRequest(name="models/missing")
    error, status = await _status_of(server.stub.GetModel(request, metadata=bearer(make_token())))

    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "models/missing does not exist"
    info = _detail(status, error_details_pb2.ErrorInfo)
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain, dict(info.metadata)) == (
        "MODEL_NOT_FOUND",
        "aiplat.dev",
        {"name": "models/missing"},
    )


async def test_invalid_argument_lists_the_bad_fields(server: RunningServer, make_token: TokenFactory) -> None:
    request = registry_service_pb2.CreateModelRequest(model_id="Not Valid", model=model_pb2.Model())
    error, status = await _status_of(
        server.stub.CreateModel(request, metadata=bearer(make_token(roles=["editor"])))
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad_request = _detail(status, error_details_pb2.BadRequest)
    assert isinstance(bad_request, error_details_pb2.BadRequest)
    assert [(v.field, v.reason) for v in bad_request.field_violations] == [
        ("model_id", ""),
        ("model.display_name", "REQUIRED_FIELD"),
    ]
    info = _detail(status, error_details_pb2.ErrorInfo)
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.reason == "MODEL_INVALID"


async def test_errors_from_client_streaming_calls_are_mapped(
    server: RunningServer, make_token: TokenFactory
) -> None:
    async def chunks_without_metadata() -> AsyncIterator[registry_service_pb2.UploadModelVersionRequest]:
        yield registry_service_pb2.UploadModelVersionRequest(chunk=b"onnx")

    call = server.stub.UploadModelVersion(
        chunks_without_metadata(), metadata=bearer(make_token(roles=["editor"]))
    )
    error, status = await _status_of(call)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad_request = _detail(status, error_details_pb2.BadRequest)
    assert isinstance(bad_request, error_details_pb2.BadRequest)
    assert bad_request.field_violations[0].field == "metadata.parent"


async def test_client_streaming_calls_succeed_through_the_interceptors(
    server: RunningServer, make_token: TokenFactory
) -> None:
    async def upload() -> AsyncIterator[registry_service_pb2.UploadModelVersionRequest]:
        metadata = registry_service_pb2.UploadModelVersionMetadata(parent="models/fraud")
        yield registry_service_pb2.UploadModelVersionRequest(metadata=metadata)
        yield registry_service_pb2.UploadModelVersionRequest(chunk=b"abc")
        yield registry_service_pb2.UploadModelVersionRequest(chunk=b"de")

    version = await server.stub.UploadModelVersion(upload(), metadata=bearer(make_token(roles=["editor"])))
    assert (version.name, version.description) == ("models/fraud/versions/1", "5 bytes")


@pytest.fixture
def error_log() -> Iterator[io.StringIO]:
    """JSON lines logged by the error mapping, formatted while the call's span is current."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("sample"))
    logger = logging.getLogger("services.runtime.transport.errors")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


async def test_unexpected_exceptions_are_internal_and_logged_with_the_trace(
    server: RunningServer, make_token: TokenFactory, error_log: io.StringIO
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    metadata = (*bearer(make_token()), ("traceparent", f"00-{trace_id}-00f067aa0ba902b7-01"))
    request = registry_service_pb2.GetModelRequest(name="models/boom")
    error, status = await _status_of(server.stub.GetModel(request, metadata=metadata))

    assert error.code() == grpc.StatusCode.INTERNAL
    assert error.details() == INTERNAL_MESSAGE
    assert "hunter2" not in str(status)
    [line] = error_log.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert entry["trace_id"] == trace_id
    assert "RuntimeError: connection string" in entry["exception"]


def test_retryable_errors_say_when_to_retry() -> None:
    status = to_status_proto(ResourceExhausted("tenant quota reached", retry_after_seconds=1.5))
    retry = _detail(status, error_details_pb2.RetryInfo)
    assert isinstance(retry, error_details_pb2.RetryInfo)
    assert retry.retry_delay.ToNanoseconds() == 1_500_000_000


def test_status_proto_of_an_invalid_argument() -> None:
    status = to_status_proto(InvalidArgument.for_field("page_size", "must be at most 1000"))
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert status.message == "page_size: must be at most 1000"


async def test_a_status_echoing_long_input_still_fits_the_trailers(
    server: RunningServer, make_token: TokenFactory
) -> None:
    name = "models/missing-" + "\u00e9" * 6000
    error, status = await _status_of(
        server.stub.GetModel(registry_service_pb2.GetModelRequest(name=name), metadata=bearer(make_token()))
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND, "not a transport error about oversized metadata"
    assert error.details().endswith("\u2026")
    assert len(error.details().encode()) <= MESSAGE_BUDGET
    info = _detail(status, error_details_pb2.ErrorInfo)
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.metadata["name"] == name[: MAX_DETAIL_TEXT - 1] + "\u2026"


async def test_violations_past_the_budget_are_counted_not_sent(
    server: RunningServer, make_token: TokenFactory
) -> None:
    labels = {f"Bad Key {i:04d} " + "x" * 40: "v" for i in range(1000)}
    request = registry_service_pb2.CreateModelRequest(
        model_id="fine", model=model_pb2.Model(display_name="Fine", labels=labels)
    )
    error, status = await _status_of(
        server.stub.CreateModel(request, metadata=bearer(make_token(roles=["editor"])))
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert status.ByteSize() <= DETAILS_BUDGET
    bad_request = _detail(status, error_details_pb2.BadRequest)
    assert isinstance(bad_request, error_details_pb2.BadRequest)
    shown = len(bad_request.field_violations)
    assert 0 < shown < 1000, "some violations are sent, not all"
    info = _detail(status, error_details_pb2.ErrorInfo)
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert int(info.metadata["violationsNotShown"]) == 1000 - shown


_NAME_NOT_UTF8 = b"\x0a\x02\xff\xfe"
"""A message whose field 1 (a string) holds bytes that are not UTF-8."""


async def test_a_request_that_does_not_parse_is_invalid_argument(
    server: RunningServer, make_token: TokenFactory
) -> None:
    get = server.channel.unary_unary(
        "/aiplat.models.v1.ModelRegistryService/GetModel", response_deserializer=model_pb2.Model.FromString
    )
    error, status = await _status_of(get(_NAME_NOT_UTF8, metadata=bearer(make_token())))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = _detail(status, error_details_pb2.ErrorInfo)
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.reason == "MALFORMED_REQUEST"

    async def chunks() -> AsyncIterator[bytes]:
        yield registry_service_pb2.UploadModelVersionRequest(chunk=b"onnx").SerializeToString()
        yield b"\xff\xff\xff"

    upload = server.channel.stream_unary(
        "/aiplat.models.v1.ModelRegistryService/UploadModelVersion",
        response_deserializer=model_pb2.ModelVersion.FromString,
    )
    error, status = await _status_of(upload(chunks(), metadata=bearer(make_token(roles=["editor"]))))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "does not parse" in error.details()
