"""The core is importable without gRPC or generated code (the servicer is the only door to them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRANSPORT = {"servicer", "convert", "convert_deployments", "lifecycle", "__main__"}


def test_core_modules_import_neither_grpc_nor_generated_code() -> None:
    package = ROOT / "services" / "models"
    modules = sorted(
        "services.models." + ".".join(path.relative_to(package).with_suffix("").parts)
        for path in package.rglob("*.py")
        if path.stem not in TRANSPORT and path.parent.name != "migrations" and path.stem != "__init__"
    )
    probe = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'grpc' or m.startswith(('grpc.', 'aiplat'))))\n"
    )
    command = [sys.executable, "-c", probe]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout
    assert len(modules) > 20
