"""A gRPC connection for the client commands, and readable errors."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.cli.settings import CliSettings

LIST_PAGE_SIZE = 200
"""Items asked for per page when a command lists everything."""


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


@contextmanager
def connect(settings: CliSettings) -> Iterator[tuple[grpc.Channel, tuple[tuple[str, str | bytes], ...]]]:
    """A channel to the configured address and the call metadata carrying the token."""
    if not settings.token:
        raise CommandError("no token: export AIPLAT_TOKEN=$(aiplat token --tenant <tenant> --roles editor)")
    with grpc.insecure_channel(settings.address) as channel:
        yield channel, (("authorization", f"Bearer {settings.token}"),)


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


def report(error: Exception) -> int:
    if isinstance(error, grpc.RpcError):
        print(describe_rpc_error(error), file=sys.stderr)
    else:
        print(str(error), file=sys.stderr)
    return 1
