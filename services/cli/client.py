"""A gRPC connection for the client commands, and readable errors."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from pydantic import ValidationError

from services.cli.settings import CliSettings

LIST_PAGE_SIZE = 200
"""Items asked for per page when a command lists everything."""
INTERRUPTED_STATUS = 130
"""Exit status after Ctrl-C, as shells report a process ended by SIGINT."""
_CHANNEL_OPTIONS = [
    # gRPC's default refuses answers over 4 MiB, when the platform's servers send up to 16 MiB
    # (an inference output of a few million values): the servers and the gateway set the limit.
    ("grpc.max_receive_message_length", -1),
]


class _Page(Protocol):
    @property
    def next_page_token(self) -> str: ...


PageT = TypeVar("PageT", bound=_Page)


def every_page(fetch: Callable[[str], PageT]) -> Iterator[PageT]:
    """Each page of a list call, ``fetch(page_token)`` from the first to the last."""
    token = ""
    while True:
        page = fetch(token)
        yield page
        if not (token := page.next_page_token):
            return


class CommandError(Exception):
    """A failure the command reports in one line and exits non-zero for."""


@dataclass(frozen=True)
class _CallDetails(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: Any
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class _CallDefaults(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[type-arg]
):
    """Adds the token and, unless the call sets its own, the deadline to every call.

    Without a deadline a server that takes the connection but never answers
    keeps the command waiting for ever.
    """

    def __init__(self, token: str, timeout_seconds: float) -> None:
        self._token = token
        self._timeout_seconds = timeout_seconds

    def _details(self, details: grpc.ClientCallDetails) -> _CallDetails:
        return _CallDetails(
            method=details.method,
            timeout=self._timeout_seconds if details.timeout is None else details.timeout,
            metadata=[*(details.metadata or ()), ("authorization", f"Bearer {self._token}")],
            credentials=details.credentials,
            wait_for_ready=details.wait_for_ready,
            compression=details.compression,
        )

    def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_stream_unary(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        return continuation(self._details(client_call_details), request_iterator)


@contextmanager
def connect(settings: CliSettings) -> Iterator[grpc.Channel]:
    """A channel to the configured address whose calls carry the token and a deadline."""
    if not settings.token:
        raise CommandError("no token: export AIPLAT_TOKEN=$(aiplat token --tenant <tenant> --roles editor)")
    with grpc.insecure_channel(settings.address, options=_CHANNEL_OPTIONS) as channel:
        yield grpc.intercept_channel(channel, _CallDefaults(settings.token, settings.timeout_seconds))


def describe_rpc_error(error: grpc.RpcError) -> str:
    """The status code, message and field violations of a failed call."""
    assert isinstance(error, grpc.Call)
    lines = [f"{error.code().name}: {error.details()}"]
    status = rpc_status.from_call(error)
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            lines += [f"  {v.field}: {v.description}" for v in bad_request.field_violations]
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            lines.append(f"  reason: {info.reason}")
    return "\n".join(lines)


def describe_settings_error(error: ValidationError) -> str:
    """One line per bad setting, named as the variable that sets it."""
    prefix = str(CliSettings.model_config.get("env_prefix", ""))
    return "\n".join(f"{prefix}{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors())


def report(error: Exception) -> int:
    """Print the error for a person, with no traceback; the exit status of a failed command."""
    if isinstance(error, grpc.RpcError):
        print(describe_rpc_error(error), file=sys.stderr)
    elif isinstance(error, ValidationError):
        print(describe_settings_error(error), file=sys.stderr)
    else:
        print(str(error), file=sys.stderr)
    return 1
