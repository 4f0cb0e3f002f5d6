"""Token verification, key sources, roles and the identity of the current call (no gRPC)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from services.runtime.auth import (
    Identity,
    Role,
    TokenVerifier,
    bind_identity,
    current_identity,
    identity_or_none,
    required_role,
)
from services.runtime.devkeys import DEFAULT_AUDIENCE, DEFAULT_ISSUER, DevKeys, ensure_dev_keys, mint_token
from services.runtime.errors import Unauthenticated, Unavailable
from services.runtime.jwks import FileKeySet, UrlKeySet


class _Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _verifier(keys: FileKeySet | UrlKeySet, clock: _Clock | None = None) -> TokenVerifier:
    return TokenVerifier(
        keys, issuer=DEFAULT_ISSUER, audience=DEFAULT_AUDIENCE, leeway_seconds=0, clock=clock or time.time
    )


async def test_a_valid_token_becomes_an_identity(dev_keys: DevKeys) -> None:
    token = mint_token(dev_keys, subject="alice", tenant="acme", roles=["editor", "auditor"])
    identity = await _verifier(FileKeySet(dev_keys.jwks_path)).verify(token)

    assert (identity.subject, identity.tenant, identity.roles) == ("alice", "acme", frozenset({Role.EDITOR}))
    assert identity.token == token
    assert token not in repr(identity)


async def test_a_cached_token_still_expires_on_time(dev_keys: DevKeys) -> None:
    clock = _Clock()
    verifier = _verifier(FileKeySet(dev_keys.jwks_path), clock)
    token = mint_token(
        dev_keys, subject="alice", tenant="acme", roles=["viewer"], ttl_seconds=60, now=clock.now
    )
    await verifier.verify(token)

    clock.now += 61
    with pytest.raises(Unauthenticated) as raised:
        await verifier.verify(token)
    assert raised.value.reason == "TOKEN_EXPIRED"


async def test_rotating_the_jwks_file_drops_tokens_of_the_old_key(
    tmp_path: Path, other_keys: DevKeys
) -> None:
    old = ensure_dev_keys(tmp_path / "old")
    jwks = tmp_path / "jwks.json"
    shutil.copy(old.jwks_path, jwks)
    verifier = _verifier(FileKeySet(jwks))
    token = mint_token(old, subject="alice", tenant="acme", roles=["viewer"])
    await verifier.verify(token)

    # Replaced the way devkeys writes it: a new file renamed over the old one.
    shutil.copy(other_keys.jwks_path, tmp_path / "new.json")
    (tmp_path / "new.json").replace(jwks)

    with pytest.raises(Unauthenticated) as raised:
        await verifier.verify(token)
    assert raised.value.reason == "TOKEN_KEY_UNKNOWN"
    assert await verifier.verify(mint_token(other_keys, subject="bob", tenant="acme", roles=[]))


async def test_a_missing_jwks_file_is_unavailable_not_unauthenticated(
    tmp_path: Path, dev_keys: DevKeys
) -> None:
    verifier = _verifier(FileKeySet(tmp_path / "absent.json"))
    with pytest.raises(Unavailable) as raised:
        await verifier.verify(mint_token(dev_keys, subject="alice", tenant="acme", roles=[]))
    assert raised.value.reason == "JWKS_UNAVAILABLE"


async def test_es256_tokens_are_accepted(tmp_path: Path) -> None:
    private_key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(ECAlgorithm.to_jwk(private_key.public_key()))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{**jwk, "kid": "ec-1", "alg": "ES256"}]}))
    claims = {
        "iss": DEFAULT_ISSUER,
        "aud": DEFAULT_AUDIENCE,
        "sub": "svc",
        "tenant": "acme",
        "exp": time.time() + 60,
    }
    token = jwt.encode(claims, private_key, algorithm="ES256", headers={"kid": "ec-1"})

    identity = await _verifier(FileKeySet(tmp_path / "jwks.json")).verify(token)
    assert identity.subject == "svc"


async def test_symmetric_tokens_are_refused(dev_keys: DevKeys) -> None:
    # The classic confusion attack: HMAC keyed with the (public) RSA key material.
    claims = {
        "iss": DEFAULT_ISSUER,
        "aud": DEFAULT_AUDIENCE,
        "sub": "eve",
        "tenant": "acme",
        "exp": time.time() + 60,
    }
    token = jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": dev_keys.key_id})
    with pytest.raises(Unauthenticated) as raised:
        await _verifier(FileKeySet(dev_keys.jwks_path)).verify(token)
    assert raised.value.reason == "TOKEN_ALGORITHM_UNSUPPORTED"


async def test_a_token_without_tenant_is_refused(dev_keys: DevKeys) -> None:
    token = mint_token(dev_keys, subject="alice", tenant="", roles=["admin"])
    with pytest.raises(Unauthenticated) as raised:
        await _verifier(FileKeySet(dev_keys.jwks_path)).verify(token)
    assert raised.value.reason == "TOKEN_CLAIMS_INVALID"


@pytest.fixture
def jwks_server(dev_keys: DevKeys) -> Iterator[tuple[str, list[int]]]:
    """An identity provider's JWKS endpoint; yields its URL and a count of fetches."""
    body = dev_keys.jwks_path.read_bytes()
    fetches = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetches[0] += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/jwks.json", fetches
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


async def test_keys_from_a_url_are_fetched_once_and_unknown_keys_do_not_refetch_at_once(
    jwks_server: tuple[str, list[int]], dev_keys: DevKeys, other_keys: DevKeys
) -> None:
    url, fetches = jwks_server
    verifier = _verifier(UrlKeySet(url, min_refresh_seconds=60))
    for _ in range(3):
        await verifier.verify(mint_token(dev_keys, subject="alice", tenant="acme", roles=[]))
    assert fetches[0] == 1

    for _ in range(3):
        with pytest.raises(Unauthenticated):
            await verifier.verify(mint_token(other_keys, subject="eve", tenant="acme", roles=[]))
    assert fetches[0] == 1


def test_roles_are_hierarchical() -> None:
    editor = Identity(subject="a", tenant="t", roles=frozenset({Role.EDITOR}))
    assert editor.has_role(Role.VIEWER)
    assert editor.has_role(Role.EDITOR)
    assert not editor.has_role(Role.ADMIN)


def test_undeclared_methods_need_admin() -> None:
    roles = {"/pkg.Service/Get": Role.VIEWER}
    assert required_role(roles, "/pkg.Service/Get") == Role.VIEWER
    assert required_role(roles, "/pkg.Service/Delete") == Role.ADMIN


def test_the_current_identity_is_bound_for_a_block_only() -> None:
    with pytest.raises(Unauthenticated):
        current_identity()
    identity = Identity(subject="a", tenant="t", roles=frozenset())
    with bind_identity(identity):
        assert current_identity() is identity
    assert identity_or_none() is None
