"""Incoming calls: who may call what, decided by the verified token alone."""

from __future__ import annotations

import time

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from aiplat.models.v1 import model_pb2, registry_service_pb2
from services.runtime.devkeys import DevKeys
from services.runtime.settings import ServiceSettings

from .conftest import SettingsFactory, TokenFactory
from .support import RunningServer, bearer

GET = registry_service_pb2.GetModelRequest(name="models/fraud")
CREATE = registry_service_pb2.CreateModelRequest(
    model_id="fraud", model=model_pb2.Model(display_name="Fraud")
)


def _reason(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)
    assert status is not None, "the status carries no details"
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            assert info.domain == "aiplat.dev"
            return info.reason
    raise AssertionError("no ErrorInfo in the status")


async def _rejected(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    return raised.value


async def test_a_valid_token_reaches_the_core_as_the_identity(
    server: RunningServer, make_token: TokenFactory
) -> None:
    token = make_token(subject="bob", tenant="globex", roles=["viewer"])
    model = await server.stub.GetModel(GET, metadata=bearer(token))
    assert model.display_name == "globex/bob"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"now": time.time() - 7200, "ttl_seconds": 3600}, "TOKEN_EXPIRED"),
        ({"audience": "someone-else"}, "TOKEN_AUDIENCE_INVALID"),
        ({"issuer": "https://evil.example"}, "TOKEN_ISSUER_INVALID"),
    ],
    ids=["expired", "wrong-audience", "wrong-issuer"],
)
async def test_invalid_tokens_are_unauthenticated(
    server: RunningServer, make_token: TokenFactory, claims: dict[str, object], reason: str
) -> None:
    error = await _rejected(server.stub.GetModel(GET, metadata=bearer(make_token(**claims))))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert _reason(error) == reason


async def test_no_token_is_unauthenticated(server: RunningServer) -> None:
    error = await _rejected(server.stub.GetModel(GET))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert _reason(error) == "TOKEN_MISSING"


async def test_a_token_from_an_untrusted_key_is_unauthenticated(
    server: RunningServer, make_token: TokenFactory, other_keys: DevKeys
) -> None:
    error = await _rejected(server.stub.GetModel(GET, metadata=bearer(make_token(keys=other_keys))))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert _reason(error) == "TOKEN_KEY_UNKNOWN"


async def test_a_token_forged_under_the_trusted_key_id_is_unauthenticated(
    server: RunningServer, make_token: TokenFactory, dev_keys: DevKeys, other_keys: DevKeys
) -> None:
    # Signed by the other key but naming the trusted key's id: only the signature check catches it.
    forger = DevKeys(other_keys.private_key_path, other_keys.jwks_path, dev_keys.key_id)
    error = await _rejected(server.stub.GetModel(GET, metadata=bearer(make_token(keys=forger))))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert _reason(error) == "TOKEN_SIGNATURE_INVALID"


async def test_malformed_authorization_is_unauthenticated(server: RunningServer) -> None:
    error = await _rejected(
        server.stub.GetModel(GET, metadata=(("authorization", "Basic YWxpY2U6c2VjcmV0"),))
    )
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert _reason(error) == "TOKEN_MALFORMED"


async def test_identity_headers_without_a_token_are_not_trusted(server: RunningServer) -> None:
    smuggled = (("x-aiplat-tenant", "acme"), ("x-aiplat-subject", "alice"), ("x-aiplat-roles", "admin"))
    error = await _rejected(server.stub.GetModel(GET, metadata=smuggled))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_identity_headers_contradicting_the_token_are_rejected(
    server: RunningServer, make_token: TokenFactory
) -> None:
    metadata = (*bearer(make_token(tenant="acme")), ("x-aiplat-tenant", "globex"))
    error = await _rejected(server.stub.GetModel(GET, metadata=metadata))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert _reason(error) == "IDENTITY_HEADER_MISMATCH"


async def test_a_viewer_cannot_write(server: RunningServer, make_token: TokenFactory) -> None:
    error = await _rejected(server.stub.CreateModel(CREATE, metadata=bearer(make_token(roles=["viewer"]))))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert _reason(error) == "ROLE_INSUFFICIENT"


@pytest.mark.parametrize("role", ["editor", "admin"])
async def test_editors_and_above_can_write(
    server: RunningServer, make_token: TokenFactory, role: str
) -> None:
    model = await server.stub.CreateModel(CREATE, metadata=bearer(make_token(roles=[role])))
    assert model.name == "models/fraud"


async def test_an_undeclared_method_needs_admin(server: RunningServer, make_token: TokenFactory) -> None:
    request = registry_service_pb2.DeleteModelRequest(name="models/fraud")
    error = await _rejected(server.stub.DeleteModel(request, metadata=bearer(make_token(roles=["editor"]))))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED

    # An admin gets through to the servicer, which does not implement it.
    error = await _rejected(server.stub.DeleteModel(request, metadata=bearer(make_token(roles=["admin"]))))
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_unknown_roles_grant_nothing(server: RunningServer, make_token: TokenFactory) -> None:
    error = await _rejected(server.stub.GetModel(GET, metadata=bearer(make_token(roles=["superuser"]))))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_health_needs_no_token(server: RunningServer) -> None:
    response = await health_pb2_grpc.HealthStub(server.channel).Check(health_pb2.HealthCheckRequest())
    assert response.status == health_pb2.HealthCheckResponse.NOT_SERVING


class TestAuthNotRequired:
    @pytest.fixture
    def server_settings(self, make_settings: SettingsFactory) -> ServiceSettings:
        return make_settings(auth_required=False)

    async def test_calls_without_a_token_run_as_the_anonymous_caller(self, server: RunningServer) -> None:
        model = await server.stub.GetModel(GET)
        assert model.display_name == "default/anonymous"

    async def test_a_bad_token_is_still_rejected(
        self, server: RunningServer, make_token: TokenFactory
    ) -> None:
        error = await _rejected(server.stub.GetModel(GET, metadata=bearer(make_token(audience="elsewhere"))))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
