"""What keeps a high-rate method cheap without dropping a guarantee: cached wrappers, spans only when
exported, a throttled key file check; and methods without a token, and ports shared on purpose."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aiplat.models.v1 import model_pb2, registry_service_pb2, registry_service_pb2_grpc
from services.runtime.auth import TokenVerifier
from services.runtime.devkeys import DevKeys, mint_token
from services.runtime.errors import Unauthenticated
from services.runtime.jwks import FileKeySet
from services.runtime.server import create_server
from services.runtime.tracing import Tracing
from services.runtime.transport._handlers import WrappedHandlers

from .conftest import SettingsFactory, TokenFactory
from .sample_service import METHOD_ROLES, SERVICE, SampleServicer, register_sample
from .support import bearer

GET = f"/{SERVICE}/GetModel"
CREATE = f"/{SERVICE}/CreateModel"


class _Counted:
    entered = 0

    def __init__(self, context: Any) -> None:
        self.context = context

    async def __aenter__(self) -> None:
        type(self).entered += 1

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> bool:
        return False


async def test_a_methods_handler_is_wrapped_once_and_its_guard_runs_on_every_call() -> None:
    made: list[str] = []

    def make_guard(method: str) -> Any:
        made.append(method)
        return _Counted

    async def behavior(request: str, context: Any) -> str:
        return request.upper()

    handlers = WrappedHandlers(make_guard)
    handler = grpc.unary_unary_rpc_method_handler(behavior)

    first = handlers.get(GET, handler)
    second = handlers.get(GET, handler)
    assert first is second
    assert await first.unary_unary("a", None) == "A"
    assert await second.unary_unary("b", None) == "B"
    assert made == [GET]
    assert _Counted.entered == 2
    assert handlers.get(GET, None) is None


def _verifier(keys: FileKeySet) -> TokenVerifier:
    return TokenVerifier(keys, issuer="https://aiplat.local/dev-issuer", audience="aiplat")


async def test_the_key_file_is_checked_at_most_once_per_interval_and_at_once_for_an_unknown_key(
    tmp_path: Path, dev_keys: DevKeys, other_keys: DevKeys
) -> None:
    jwks = tmp_path / "jwks.json"
    shutil.copy(dev_keys.jwks_path, jwks)
    now = [0.0]
    keys = FileKeySet(jwks, check_interval_seconds=1.0, clock=lambda: now[0])
    old = mint_token(dev_keys, subject="a", tenant="t", roles=["viewer"])
    await _verifier(keys).verify(old)
    first = await keys.snapshot()

    # The file now holds the other key pair only (and both pairs are known by key id).
    combined = json.loads(other_keys.jwks_path.read_text())
    jwks.write_text(json.dumps(combined))
    assert await keys.snapshot() is first, "no stat within the interval"
    new = mint_token(other_keys, subject="a", tenant="t", roles=["viewer"])
    identity = await _verifier(keys).verify(new)  # an unknown key id looks at the file at once
    assert identity.subject == "a"

    now[0] = 5.0
    with pytest.raises(Unauthenticated):
        await _verifier(keys).verify(old)


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def _tracing(spans: InMemorySpanExporter, *, exporting: bool) -> Tracing:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return Tracing(provider, exporting=exporting)


@pytest.mark.parametrize("exporting", [False, True])
async def test_hot_methods_get_a_span_only_while_spans_are_exported(
    exporting: bool, spans: InMemorySpanExporter, make_settings: SettingsFactory, make_token: TokenFactory
) -> None:
    handle, port = create_server(
        "sample",
        make_settings(),
        register_sample(SampleServicer()),
        method_roles=METHOD_ROLES,
        tracing=_tracing(spans, exporting=exporting),
        hot_methods=[GET],
    )
    async with handle, grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        metadata = bearer(make_token(["editor"]))
        await stub.GetModel(registry_service_pb2.GetModelRequest(name="models/a"), metadata=metadata)
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.GetModel(registry_service_pb2.GetModelRequest(name="models/a"))
        await stub.CreateModel(
            registry_service_pb2.CreateModelRequest(model_id="a", model=model_pb2.Model(display_name="A")),
            metadata=metadata,
        )

    names = [span.name for span in spans.get_finished_spans()]
    assert names.count(CREATE) == 1
    assert names.count(GET) == (2 if exporting else 0)


@pytest.fixture
async def public_server(
    make_settings: SettingsFactory,
) -> AsyncIterator[registry_service_pb2_grpc.ModelRegistryServiceStub]:
    roles = {name: role for name, role in METHOD_ROLES.items() if name != GET}
    handle, port = create_server(
        "sample", make_settings(), register_sample(SampleServicer()), method_roles=roles, public_methods=[GET]
    )
    async with handle, grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield registry_service_pb2_grpc.ModelRegistryServiceStub(channel)


async def test_public_methods_need_no_token_and_the_others_still_do(
    public_server: registry_service_pb2_grpc.ModelRegistryServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await public_server.CreateModel(registry_service_pb2.CreateModelRequest(model_id="a"))
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # The sample's GetModel reads the caller's identity, which a public call does not have.
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await public_server.GetModel(registry_service_pb2.GetModelRequest(name="models/a"))
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "no caller identity" in (anonymous.value.details() or "")


async def test_public_methods_the_server_lacks_are_refused(make_settings: SettingsFactory) -> None:
    with pytest.raises(ValueError, match="GetModle"):
        create_server(
            "sample",
            make_settings(),
            register_sample(SampleServicer()),
            method_roles=METHOD_ROLES,
            public_methods=[f"/{SERVICE}/GetModle"],
        )


async def test_servers_that_ask_for_it_share_a_port(
    make_settings: SettingsFactory, make_token: TokenFactory
) -> None:
    first, port = create_server(
        "sample",
        make_settings(),
        register_sample(SampleServicer()),
        method_roles=METHOD_ROLES,
        reuse_port=True,
    )
    second, same = create_server(
        "sample",
        make_settings(port=port),
        register_sample(SampleServicer()),
        method_roles=METHOD_ROLES,
        reuse_port=True,
    )
    async with first, second, grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        model = await stub.GetModel(
            registry_service_pb2.GetModelRequest(name="models/a"), metadata=bearer(make_token())
        )
    assert same == port
    assert model.name == "models/a"
