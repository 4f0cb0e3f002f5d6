"""Launcher settings that are derived from the machine."""

from __future__ import annotations

import pytest

from services.launcher import settings as launcher_settings
from services.launcher.settings import LauncherSettings


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
