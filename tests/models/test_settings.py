"""Settings: the environment prefix and the defaults derived from the data directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.models.settings import ModelsSettings


def test_reads_its_prefix_and_derives_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIPLAT_MODELS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AIPLAT_MODELS_AUTH_REQUIRED", "false")
    monkeypatch.setenv("AIPLAT_MODELS_MAX_UPLOAD_BYTES", "1000")
    monkeypatch.setenv("AIPLAT_MODELS_IMPORT_URI_PREFIXES", '["s3://bucket/incoming/"]')
    settings = ModelsSettings()
    assert settings.max_upload_bytes == 1000
    assert settings.import_uri_prefixes == ("s3://bucket/incoming/",)
    assert settings.resolved_artifact_url() == str(tmp_path / "artifacts")
    assert settings.resolved_staging_dir() == tmp_path / "staging"
    assert settings.resolved_database_url("models") == f"sqlite:///{tmp_path / 'models.db'}"


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIPLAT_MODELS_AUTH_REQUIRED", "false")
    settings = ModelsSettings()
    assert settings.max_upload_bytes == 2 * 1024**3
    assert settings.artifact_url is None
    assert settings.watch_queue_size == 1024
    assert settings.watch_poll_seconds == 0.5


def test_an_import_prefix_must_be_a_plain_location(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIPLAT_MODELS_AUTH_REQUIRED", "false")
    monkeypatch.setenv("AIPLAT_MODELS_IMPORT_URI_PREFIXES", '["zip://m::s3://bucket/incoming/"]')
    with pytest.raises(ValidationError, match="chained URLs") as raised:
        ModelsSettings()
    assert [error["loc"] for error in raised.value.errors()] == [("import_uri_prefixes",)]
