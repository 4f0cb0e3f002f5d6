"""ServiceSettings: env prefixes, the standard OTLP variable, defaults and validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from services.runtime.devkeys import DEFAULT_AUDIENCE, DEFAULT_ISSUER
from services.runtime.settings import ServiceSettings


class ModelsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIPLAT_MODELS_")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)


def test_a_service_reads_its_own_prefix_and_the_standard_otlp_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIPLAT_MODELS_PORT", "50051")
    monkeypatch.setenv("AIPLAT_MODELS_JWKS_PATH", str(tmp_path / "jwks.json"))
    monkeypatch.setenv("AIPLAT_MODELS_LOG_LEVEL", "debug")
    monkeypatch.setenv("AIPLAT_TRAINING_PORT", "50052")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")

    settings = ModelsSettings()

    assert settings.port == 50051
    assert settings.jwks_path == tmp_path / "jwks.json"
    assert settings.log_level == "DEBUG"
    assert settings.otlp_endpoint == "http://collector:4317"


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = ServiceSettings(jwks_path=tmp_path / "jwks.json")

    assert (settings.host, settings.port, settings.metrics_port) == ("127.0.0.1", 0, 0)
    assert settings.data_dir == tmp_path / ".aiplat"
    assert (settings.jwt_issuer, settings.jwt_audience) == (DEFAULT_ISSUER, DEFAULT_AUDIENCE)
    assert settings.auth_required
    assert settings.shutdown_grace_seconds == 10
    assert settings.otlp_endpoint is None
    assert settings.resolved_database_url("models") == f"sqlite:///{tmp_path}/.aiplat/models.db"


def test_an_explicit_database_url_wins() -> None:
    settings = ServiceSettings(auth_required=False, database_url="postgresql+psycopg://db/models")
    assert settings.resolved_database_url("models") == "postgresql+psycopg://db/models"


def test_the_database_password_stays_out_of_the_repr() -> None:
    settings = ServiceSettings(auth_required=False, database_url="postgresql+psycopg://app:s3cret@db/models")
    assert "s3cret" not in repr(settings)
    assert "postgresql+psycopg://app:***@db/models" in repr(settings)


def test_auth_needs_a_key_source() -> None:
    with pytest.raises(ValidationError, match="jwks_path or jwks_url"):
        ServiceSettings()


def test_only_one_key_source(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not both"):
        ServiceSettings(jwks_path=tmp_path / "jwks.json", jwks_url="https://idp.example/jwks")


def test_metrics_port_minus_one_disables_metrics() -> None:
    assert not ServiceSettings(auth_required=False, metrics_port=-1).metrics_enabled
    assert ServiceSettings(auth_required=False, metrics_port=0).metrics_enabled


def test_settings_are_immutable() -> None:
    settings = ServiceSettings(auth_required=False)
    with pytest.raises(ValidationError):
        settings.port = 1  # type: ignore[misc]


def test_every_field_is_documented() -> None:
    undocumented = [name for name, field in ServiceSettings.model_fields.items() if not field.description]
    assert undocumented == []
