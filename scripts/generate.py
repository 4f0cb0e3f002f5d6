"""Regenerate everything derived from the contracts.

1. Vendors the googleapis sources the contracts import (from the installed
   googleapis-common-protos package) into ``third_party/googleapis``.
2. Compiles ``proto/`` and ``third_party/open_inference/`` into Python
   messages, gRPC stubs and ``.pyi`` type stubs under ``gen/``.
3. Writes the descriptor set (with imports and source info) that Envoy's
   gRPC-JSON transcoder reads.

Run it with ``make gen``; CI fails when its output differs from what is committed.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import google.api
import grpc_tools

ROOT = Path(__file__).resolve().parent.parent
OUR_PROTO_ROOTS = (ROOT / "proto", ROOT / "third_party" / "open_inference")
GOOGLEAPIS_DIR = ROOT / "third_party" / "googleapis"
GEN_DIR = ROOT / "gen"
DESCRIPTOR_SET = GEN_DIR / "aiplat_descriptor.binpb"

# The long-running operations source ships under a file name that differs
# from the import path every other proto uses.
_RENAMED_SOURCES = {"google/longrunning/operations_proto.proto": "google/longrunning/operations.proto"}
# Not imported by any contract, but the gateway's transcoder needs it to render error details as JSON.
_DESCRIPTOR_ONLY_SOURCES = ("google/rpc/error_details.proto",)
_IMPORT = re.compile(r'^import\s+(?:public\s+)?"([^"]+)";', re.MULTILINE)
_WELL_KNOWN_PREFIX = "google/protobuf/"


def _googleapis_source_root() -> Path:
    return Path(next(iter(google.api.__path__))).parent.parent


def _source_path(import_path: str) -> Path:
    root = _googleapis_source_root()
    for shipped, runtime in _RENAMED_SOURCES.items():
        if runtime == import_path:
            return root / shipped
    return root / import_path


def _our_proto_files() -> list[Path]:
    return sorted(p for base in OUR_PROTO_ROOTS for p in base.rglob("*.proto"))


def _imports_of(path: Path) -> set[str]:
    return set(_IMPORT.findall(path.read_text(encoding="utf-8")))


def _googleapis_closure() -> set[str]:
    pending = [imp for f in _our_proto_files() for imp in _imports_of(f) if imp.startswith("google/")]
    pending += _DESCRIPTOR_ONLY_SOURCES
    vendored: set[str] = set()
    while pending:
        import_path = pending.pop()
        if import_path in vendored or import_path.startswith(_WELL_KNOWN_PREFIX):
            continue
        source = _source_path(import_path)
        if not source.is_file():
            raise SystemExit(f"googleapis-common-protos does not ship {import_path}")
        vendored.add(import_path)
        pending.extend(_imports_of(source))
    return vendored


def vendor_googleapis() -> list[str]:
    """Copy the transitive closure of googleapis imports into third_party/googleapis."""
    vendored = _googleapis_closure()
    # Rewrite only what changed, so concurrent runs never see a half-empty tree.
    for import_path in sorted(vendored):
        target = GOOGLEAPIS_DIR / import_path
        content = _source_path(import_path).read_bytes()
        if not target.is_file() or target.read_bytes() != content:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    for stale in GOOGLEAPIS_DIR.rglob("*.proto"):
        if str(stale.relative_to(GOOGLEAPIS_DIR)) not in vendored:
            stale.unlink()
    return sorted(vendored)


def _protoc(args: list[str]) -> None:
    include_wkt = Path(next(iter(grpc_tools.__path__))) / "_proto"
    includes = [f"-I{p}" for p in (*OUR_PROTO_ROOTS, GOOGLEAPIS_DIR, include_wkt)]
    command = [sys.executable, "-m", "grpc_tools.protoc", *includes, *args]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"protoc failed:\n{result.stderr}")


def _relative(path: Path) -> str:
    for base in OUR_PROTO_ROOTS:
        if path.is_relative_to(base):
            return str(path.relative_to(base))
    raise ValueError(path)


def generate_python(out_dir: Path) -> None:
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    sources = [_relative(p) for p in _our_proto_files()]
    # grpc_python_out writes untyped stubs; mypy-protobuf's plugin adds their .pyi so callers type-check.
    grpc_stub_plugin = Path(sys.executable).with_name("protoc-gen-mypy_grpc")
    _protoc(
        [
            f"--python_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            f"--pyi_out={out_dir}",
            f"--plugin=protoc-gen-mypy_grpc={grpc_stub_plugin}",
            f"--mypy_grpc_out={out_dir}",
            *sources,
        ]
    )
    descriptor_set = out_dir / DESCRIPTOR_SET.name
    _protoc(
        [
            f"--descriptor_set_out={descriptor_set}",
            "--include_imports",
            "--include_source_info",
            *sources,
            *_DESCRIPTOR_ONLY_SOURCES,
        ]
    )
    for package_dir in sorted({p.parent for p in out_dir.rglob("*_pb2.py")}):
        current = package_dir
        while current != out_dir:
            (current / "__init__.py").touch()
            (current / "py.typed").touch()
            current = current.parent


def _differences(expected: Path, actual: Path) -> list[str]:
    comparison = filecmp.dircmp(expected, actual, ignore=["__pycache__"])
    found = [f"missing: {actual / name}" for name in comparison.left_only]
    found += [f"unexpected: {actual / name}" for name in comparison.right_only]
    found += [f"differs: {actual / name}" for name in comparison.diff_files]
    for name in comparison.common_dirs:
        found += _differences(expected / name, actual / name)
    return found


def check() -> int:
    """Exit non-zero when gen/ or the vendored sources differ from what the contracts produce."""
    problems = [
        f"differs or missing: {GOOGLEAPIS_DIR / p}"
        for p in sorted(_googleapis_closure())
        if not (GOOGLEAPIS_DIR / p).is_file()
        or (GOOGLEAPIS_DIR / p).read_bytes() != _source_path(p).read_bytes()
    ]
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / "gen"
        generate_python(fresh)
        problems += _differences(fresh, GEN_DIR)
    for problem in problems:
        print(problem)
    if problems:
        print("gen/ is stale: run `make gen` and commit the result")
        return 1
    print("gen/ is up to date")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=GEN_DIR, help="output folder (default: gen/)")
    parser.add_argument("--check", action="store_true", help="only report drift; write nothing")
    args = parser.parse_args()
    if args.check:
        raise SystemExit(check())
    vendored = vendor_googleapis()
    generate_python(args.out)
    contracts = len(_our_proto_files())
    print(f"vendored {len(vendored)} googleapis files; generated {contracts} contracts into {args.out}")


if __name__ == "__main__":
    main()
