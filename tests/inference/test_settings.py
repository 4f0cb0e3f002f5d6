"""Settings: the environment prefix, the required peer, and what is derived from the data directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.inference.settings import InferenceSettings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIPLAT_INFERENCE_AUTH_REQUIRED", "false")
    for name in ("MODELS_ADDRESS", "SERVICE_TOKEN_FILE", "WORKERS", "CACHE_DIR"):
        monkeypatch.delenv(f"AIPLAT_INFERENCE_{name}", raising=False)


def test_reads_its_prefix_and_derives_the_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIPLAT_INFERENCE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AIPLAT_INFERENCE_MODELS_ADDRESS", "127.0.0.1:50051")
    monkeypatch.setenv("AIPLAT_INFERENCE_SERVICE_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("AIPLAT_INFERENCE_WORKERS", "2")

    settings = InferenceSettings()

    assert settings.models_address == "127.0.0.1:50051"
    assert settings.service_token_file == tmp_path / "token"
    assert settings.workers == 2
    assert settings.resolved_cache_dir() == tmp_path / "inference-cache"
    assert settings.session_threads() >= 1


def test_the_model_service_and_its_token_have_no_default() -> None:
    with pytest.raises(ValidationError) as raised:
        InferenceSettings()
    missing = {error["loc"][0] for error in raised.value.errors()}
    assert missing == {"models_address", "service_token_file"}


def test_workers_share_the_cores_among_their_sessions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    one = InferenceSettings(models_address="m:1", service_token_file=tmp_path / "t", workers=1)
    many = InferenceSettings(models_address="m:1", service_token_file=tmp_path / "t", workers=64)
    assert many.session_threads() == 1
    assert one.session_threads() >= many.session_threads()
