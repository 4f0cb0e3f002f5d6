"""Launcher settings, and what the launcher hands each service, derived from the machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.cli.main import main
from services.inference.settings import InferenceSettings
from services.launcher import settings as launcher_settings
from services.launcher import supervisor
from services.launcher.catalog import SERVICES
from services.launcher.settings import LauncherSettings
from services.runtime.devkeys import ensure_dev_keys


@pytest.mark.parametrize(("cores", "workers"), [(1, 1), (2, 1), (8, 2), (64, 16)])
def test_the_gateway_takes_a_quarter_of_the_cores_by_default(
    monkeypatch: pytest.MonkeyPatch, cores: int, workers: int
) -> None:
    monkeypatch.setattr(launcher_settings, "usable_cores", lambda: cores)
    assert LauncherSettings().gateway_worker_threads() == workers


def test_the_gateway_workers_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIPLAT_GATEWAY_WORKERS", "3")
    assert LauncherSettings().gateway_worker_threads() == 3


def test_the_gateway_needs_at_least_one_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIPLAT_GATEWAY_WORKERS", "0")
    with pytest.raises(ValueError, match="gateway_workers"):
        LauncherSettings()


def _inference_env(tmp_path: Path, replicas: int) -> dict[str, str]:
    settings = LauncherSettings(data_dir=tmp_path, replicas={"inference": replicas})
    keys = ensure_dev_keys(tmp_path / "keys")
    return supervisor._service_env(_INFERENCE, settings, keys, {"models": "127.0.0.1:1"}, replica=0)


_INFERENCE = next(spec for spec in SERVICES if spec.name == "inference")


@pytest.mark.parametrize(("cores", "replicas", "share"), [(2, 1, "2"), (2, 2, "1"), (8, 3, "2"), (1, 4, "1")])
def test_inference_replicas_on_one_machine_split_its_cores(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cores: int, replicas: int, share: str
) -> None:
    monkeypatch.delenv("AIPLAT_INFERENCE_CORES", raising=False)
    monkeypatch.setattr(supervisor, "usable_cores", lambda: cores)
    assert _inference_env(tmp_path, replicas)["AIPLAT_INFERENCE_CORES"] == share


def test_an_operators_share_of_cores_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIPLAT_INFERENCE_CORES", "6")
    assert "AIPLAT_INFERENCE_CORES" not in _inference_env(tmp_path, 2)
    inference = InferenceSettings(
        models_address="m:1", service_token_file=tmp_path / "token", auth_required=False
    )
    assert inference.session_threads() == 6


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AIPLAT_GATEWAY_PORT", "70000"),
        ("AIPLAT_ADMIN_PORT", "-1"),
        ("AIPLAT_STARTUP_TIMEOUT_SECONDS", "0"),
        ("AIPLAT_SHUTDOWN_GRACE_SECONDS", "-5"),
    ],
)
def test_out_of_range_values_are_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    # Accepted, they fail later and obscurely: Envoy cannot bind, every service "times out" at once.
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=variable.removeprefix("AIPLAT_").lower()):
        LauncherSettings()


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("AIPLAT_GATEWAY_WORKERS", "abc", "AIPLAT_GATEWAY_WORKERS"),
        ("AIPLAT_REPLICAS", "{not json", "replicas"),
    ],
    ids=["not-a-number", "not-json"],
)
@pytest.mark.parametrize("command", [["up"], ["token", "--tenant", "acme", "--roles", "viewer"]])
def test_settings_that_cannot_be_used_are_named_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    variable: str,
    value: str,
    named: str,
    command: list[str],
) -> None:
    monkeypatch.setenv(variable, value)
    assert main(["--data-dir", str(tmp_path), *command]) == 2
    captured = capsys.readouterr()
    assert named in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""
