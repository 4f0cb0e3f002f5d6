"""The artifact cache shared by several worker processes, and what a crashed fetch leaves behind."""

from __future__ import annotations

import fcntl
import hashlib
import threading
import types
from pathlib import Path
from typing import Any

import fsspec
import pytest

import services.inference.cache_files as cache_module
from services.inference.artifacts import ArtifactCache
from services.inference.errors import ArtifactError


def _source(tmp_path: Path, data: bytes) -> tuple[str, str]:
    path = tmp_path / "source.onnx"
    path.write_bytes(data)
    return f"file://{path}", hashlib.sha256(data).hexdigest()


def test_two_processes_sharing_the_cache_download_an_artifact_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, sha = _source(tmp_path, b"model bytes" * 1000)
    directory = tmp_path / "cache"
    # Two caches on one directory stand for two worker processes: flock excludes open files, not processes.
    first, second = ArtifactCache(directory), ArtifactCache(directory)
    changed = threading.Condition()
    opened: list[str] = []
    second_waits = threading.Event()
    release_first = threading.Event()
    second_thread: list[threading.Thread] = []

    def gated_open(source: str, mode: str) -> Any:
        with changed:
            opened.append(threading.current_thread().name)
            changed.notify_all()
        if threading.current_thread().name == "first":
            assert release_first.wait(30), "test gate never opened"
        return fsspec.open(source, mode)

    def flock(descriptor: int, operation: int) -> None:
        if threading.current_thread() in second_thread and operation == fcntl.LOCK_EX:
            with changed:
                second_waits.set()
                changed.notify_all()
        fcntl.flock(descriptor, operation)

    monkeypatch.setattr(cache_module, "fsspec", types.SimpleNamespace(open=gated_open))
    monkeypatch.setattr(
        cache_module, "fcntl", types.SimpleNamespace(flock=flock, LOCK_EX=fcntl.LOCK_EX), raising=False
    )
    results: dict[str, Path] = {}

    def fetch(cache: ArtifactCache, name: str) -> None:
        results[name] = cache._fetch(uri, sha)

    one = threading.Thread(target=fetch, args=(first, "first"), name="first")
    one.start()
    with changed:
        assert changed.wait_for(lambda: opened, 30)
    two = threading.Thread(target=fetch, args=(second, "second"), name="second")
    second_thread.append(two)
    two.start()
    with changed:
        # Either the second process waits for the first one's download, or it starts its own.
        assert changed.wait_for(lambda: second_waits.is_set() or len(opened) == 2, 30)
    release_first.set()
    one.join(30)
    two.join(30)
    assert opened == ["first"]
    assert results["first"] == results["second"] == directory / f"{sha}.onnx"
    assert hashlib.sha256(results["first"].read_bytes()).hexdigest() == sha
    assert sorted(p.name for p in directory.iterdir()) == [f"{sha}.onnx"]


async def test_a_fetch_removes_what_a_crashed_fetch_of_the_same_artifact_left(tmp_path: Path) -> None:
    uri, sha = _source(tmp_path, b"model bytes")
    directory = tmp_path / "cache"
    directory.mkdir()
    # A process killed mid-download leaves its partial file and its lock file.
    (directory / f"{sha}.onnx.0123456789abcdef0123456789abcdef.part").write_bytes(b"model")
    (directory / f"{sha}.onnx.lock").write_bytes(b"")
    cache = ArtifactCache(directory)
    path = await cache.fetch(uri, sha)
    assert path.read_bytes() == b"model bytes"
    assert sorted(p.name for p in directory.iterdir()) == [f"{sha}.onnx"]


async def test_a_partial_file_is_never_taken_for_the_artifact(tmp_path: Path) -> None:
    uri, sha = _source(tmp_path, b"model bytes")
    directory = tmp_path / "cache"
    directory.mkdir()
    (directory / f"{sha}.onnx").write_bytes(b"model")  # a copy cut short by a crash or a full disk
    path = await ArtifactCache(directory).fetch(uri, sha)
    assert path.read_bytes() == b"model bytes"


def test_a_full_disk_under_the_cache_is_told_apart_from_an_unreadable_artifact_store(tmp_path: Path) -> None:
    uri, _ = _source(tmp_path, b"model bytes" * 1000)
    with pytest.raises(ArtifactError) as raised:
        # Every write to /dev/full fails as on a full disk (ENOSPC).
        cache_module.download(uri, Path("/dev/full"), tmp_path / "cache")
    assert raised.value.reason == "CACHE_UNAVAILABLE"
    assert "No space left on device" in raised.value.message
    assert "AIPLAT_INFERENCE_CACHE_DIR" in raised.value.message
