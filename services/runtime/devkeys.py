"""Development signing keys and tokens for the one-machine mode.

The key pair is generated on first use in the data directory (never
committed); its public half is written as a JWKS file that both the Envoy
gateway and every service read.  In production the identity provider's JWKS
replaces it and this module is not used.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

DEFAULT_ISSUER = "https://aiplat.local/dev-issuer"
DEFAULT_AUDIENCE = "aiplat"
DEV_KEY_FILE = "signing-key.pem"
_JWKS_FILE = "jwks.json"


@dataclass(frozen=True)
class DevKeys:
    """Where the development key pair lives, and its key id."""

    private_key_path: Path
    jwks_path: Path
    key_id: str


def _key_id(public_jwk: dict[str, str]) -> str:
    # A stable id derived from the modulus, so the JWKS and tokens agree across runs.
    return uuid.uuid5(uuid.NAMESPACE_OID, public_jwk["n"]).hex[:16]


def ensure_dev_keys(keys_dir: Path) -> DevKeys:
    """Return the development key pair in ``keys_dir``, generating it on first use."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    key_path = keys_dir / DEV_KEY_FILE
    jwks_path = keys_dir / _JWKS_FILE
    if not key_path.exists():
        new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = new_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Written with owner-only permissions from the start: the key must never be world-readable.
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"{key_path} does not hold an RSA private key")
    public_jwk: dict[str, str] = json.loads(RSAAlgorithm.to_jwk(loaded.public_key()))
    key_id = _key_id(public_jwk)
    jwks = {"keys": [{**public_jwk, "kid": key_id, "use": "sig", "alg": "RS256"}]}
    rendered = json.dumps(jwks, indent=2, sort_keys=True) + "\n"
    if not jwks_path.exists() or jwks_path.read_text(encoding="utf-8") != rendered:
        tmp = jwks_path.with_suffix(".tmp")
        tmp.write_text(rendered, encoding="utf-8")
        tmp.replace(jwks_path)
    return DevKeys(private_key_path=key_path, jwks_path=jwks_path, key_id=key_id)


def mint_token(
    keys: DevKeys,
    *,
    subject: str,
    tenant: str,
    roles: Sequence[str],
    issuer: str = DEFAULT_ISSUER,
    audience: str = DEFAULT_AUDIENCE,
    ttl_seconds: int = 3600,
    now: float | None = None,
) -> str:
    """Sign a token with the development key; ``now`` lets tests mint expired tokens."""
    issued_at = int(time.time() if now is None else now)
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "tenant": tenant,
        "roles": list(roles),
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(
        claims,
        keys.private_key_path.read_bytes(),
        algorithm="RS256",
        headers={"kid": keys.key_id},
    )
