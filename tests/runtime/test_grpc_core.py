"""gRPC core options: set before ``grpc`` loads, by every service's ``__main__``; an operator's own win."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import services.runtime.grpc_core as grpc_core

_PROBE = """
import os, sys
import {module}
import services.runtime.grpc_core as grpc_core
print(grpc_core.APPLIED, "grpc" in sys.modules, os.environ.get("GRPC_EXPERIMENTS"))
"""


def _probe(module: str, env: dict[str, str]) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=module)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    return completed.stdout.strip()


@pytest.mark.parametrize("module", ["services.inference.__main__", "services.models.__main__"])
def test_a_service_process_sets_the_options_before_grpc_loads(module: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != grpc_core.EXPERIMENTS_VARIABLE}
    assert _probe(module, env) == f"True True {grpc_core.CLASSIC_LISTENER}"


def test_an_operators_own_experiments_are_kept() -> None:
    env = {**os.environ, grpc_core.EXPERIMENTS_VARIABLE: "-event_engine_client"}
    assert _probe("services.inference.__main__", env) == "True True -event_engine_client"


def test_importing_after_grpc_changes_nothing() -> None:
    env = {k: v for k, v in os.environ.items() if k != grpc_core.EXPERIMENTS_VARIABLE}
    assert _probe("grpc", env) == "False True None"


def test_the_test_suite_runs_the_services_options() -> None:
    # tests/conftest.py imports the module first, so in-process servers behave as deployed ones.
    assert grpc_core.APPLIED
    assert os.environ.get(grpc_core.EXPERIMENTS_VARIABLE)
