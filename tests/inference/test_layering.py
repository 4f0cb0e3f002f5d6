"""The core is importable without gRPC or generated code (the servicer side is the only door to them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRANSPORT = {
    "servicer",
    "convert",
    "convert_models",
    "convert_deployments",
    "follower",
    "reporter",
    "app",
    "workers",
    "__main__",
}


def test_core_modules_import_neither_grpc_nor_generated_code() -> None:
    package = ROOT / "services" / "inference"
    modules = sorted(
        f"services.inference.{path.stem}"
        for path in package.glob("*.py")
        if path.stem not in TRANSPORT and path.stem != "__init__"
    )
    probe = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "generated = ('grpc.', 'aiplat', 'inference')\n"
        "print(sorted(m for m in sys.modules if m == 'grpc' or m.startswith(generated)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout
    assert {"services.inference.controller", "services.inference.telemetry"} <= set(modules)
