"""`aiplat token` mints development tokens the platform accepts."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest

from services.cli.main import main
from services.runtime.devkeys import DEFAULT_AUDIENCE, DEFAULT_ISSUER


def test_token_is_signed_by_the_local_jwks_with_the_requested_claims(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data-dir", str(tmp_path), "token", "--tenant", "acme", "--roles", "viewer,editor"]) == 0
    token = capsys.readouterr().out.strip()

    jwks = json.loads((tmp_path / "keys" / "jwks.json").read_text())
    (key,) = jwks["keys"]
    assert jwt.get_unverified_header(token)["kid"] == key["kid"]
    public_key = jwt.PyJWK(key).key
    claims = jwt.decode(
        token, public_key, algorithms=["RS256"], audience=DEFAULT_AUDIENCE, issuer=DEFAULT_ISSUER
    )
    assert claims["tenant"] == "acme"
    assert claims["roles"] == ["viewer", "editor"]
    assert claims["exp"] - claims["iat"] == 3600


def test_the_key_is_generated_once_and_kept_private(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--data-dir", str(tmp_path), "token", "--tenant", "a", "--roles", "viewer"])
    first = (tmp_path / "keys" / "jwks.json").read_text()
    # A new key is announced: a token minted in the wrong folder would otherwise fail unexplained.
    assert f"created a new signing key in {(tmp_path / 'keys').resolve()}" in capsys.readouterr().err
    main(["--data-dir", str(tmp_path), "token", "--tenant", "b", "--roles", "viewer"])
    assert capsys.readouterr().err == ""
    assert (tmp_path / "keys" / "jwks.json").read_text() == first
    assert (tmp_path / "keys" / "signing-key.pem").stat().st_mode & 0o077 == 0


def test_unknown_role_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(tmp_path), "token", "--tenant", "a", "--roles", "root"]) == 2
    assert "unknown role" in capsys.readouterr().err
