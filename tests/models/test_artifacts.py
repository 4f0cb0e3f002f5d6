"""Content-addressed artifact storage on a local directory and in memory."""

from __future__ import annotations

import errno
import hashlib
import os
import uuid
from pathlib import Path
from typing import Any

import fsspec
import pytest

from services.models.artifacts import ArtifactStorage, open_source
from services.models.sources import parse_location


def _staged(tmp_path: Path, data: bytes) -> tuple[Path, str]:
    path = tmp_path / f"staged-{uuid.uuid4().hex}"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["local", "memory"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStorage:
    if request.param == "local":
        return ArtifactStorage(str(tmp_path / "artifacts"))
    return ArtifactStorage(f"memory://artifacts-test-{uuid.uuid4().hex[:8]}")


def test_put_stores_under_the_checksum_and_delete_removes(storage: ArtifactStorage, tmp_path: Path) -> None:
    storage.check()
    path, sha = _staged(tmp_path, b"model bytes")
    uri = storage.put(path, sha)
    assert uri == storage.uri(sha)
    assert uri.endswith(f"/sha256/{sha[:2]}/{sha}")
    assert storage.exists(sha)
    assert storage.keys() == [sha]
    with fsspec.open(uri, "rb") as stored:
        assert stored.read() == b"model bytes"
    storage.delete(sha)
    storage.delete(sha)
    assert storage.keys() == []


def test_a_second_put_of_the_same_bytes_keeps_one_copy(storage: ArtifactStorage, tmp_path: Path) -> None:
    first, sha = _staged(tmp_path, b"same")
    second, _ = _staged(tmp_path, b"same")
    assert storage.put(first, sha) == storage.put(second, sha)
    assert storage.keys() == [sha]


def test_a_local_store_moves_the_staged_file_instead_of_copying(tmp_path: Path) -> None:
    storage = ArtifactStorage(str(tmp_path / "artifacts"))
    path, sha = _staged(tmp_path, b"big file")
    assert storage.put(path, sha).startswith("file://")
    assert not path.exists()
    assert storage.root_uri == f"file://{tmp_path / 'artifacts'}"


def test_check_fails_when_the_root_is_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(NotADirectoryError):
        ArtifactStorage(str(blocker / "artifacts")).check()


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> set[int]:
    """Inodes of the files and directories flushed to disk with ``os.fsync``."""
    inodes: set[int] = set()
    real_fsync = os.fsync

    def fsync(descriptor: int) -> None:
        inodes.add(os.fstat(descriptor).st_ino)
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    return inodes


def test_a_stored_artifact_is_on_disk_with_every_directory_created_for_it(
    tmp_path: Path, fsynced: set[int]
) -> None:
    root = tmp_path / "artifacts"
    storage = ArtifactStorage(str(root))
    path, sha = _staged(tmp_path, b"model bytes")
    storage.put(path, sha)
    # A crash must not lose an entry on the way: sha256/ in the root, ab/ in sha256/, the file in ab/.
    for directory in (tmp_path, root, root / "sha256", root / "sha256" / sha[:2]):
        assert directory.stat().st_ino in fsynced, directory


def test_an_artifact_copied_from_another_filesystem_is_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fsynced: set[int]
) -> None:
    storage = ArtifactStorage(str(tmp_path / "artifacts"))
    path, sha = _staged(tmp_path, b"model bytes")
    real_replace = os.replace

    def replace(source: Any, destination: Any) -> None:
        if Path(source) == path:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", replace)
    uri = storage.put(path, sha)
    stored = tmp_path / "artifacts" / "sha256" / sha[:2] / sha
    with fsspec.open(uri, "rb") as file:
        assert file.read() == b"model bytes"
    assert stored.stat().st_ino in fsynced, "the copy's bytes were not flushed"
    assert stored.parent.stat().st_ino in fsynced, "the copy's directory entry was not flushed"
    assert sorted(p.name for p in stored.parent.iterdir()) == [sha]


def test_an_import_source_is_judged_by_where_its_links_lead(tmp_path: Path) -> None:
    incoming, stored = tmp_path / "incoming", tmp_path / "artifacts" / "sha256"
    incoming.mkdir()
    stored.mkdir(parents=True)
    (tmp_path / "secret").write_bytes(b"server file")
    (stored / "other-tenant").write_bytes(b"another tenant's model")
    (incoming / "model.onnx").write_bytes(b"model")
    (incoming / "escape.onnx").symlink_to(tmp_path / "secret")
    (incoming / "stored.onnx").symlink_to(stored / "other-tenant")
    linked = tmp_path / "linked-incoming"  # a configured folder that is itself a link still works
    linked.symlink_to(incoming)
    allowed = (parse_location(str(linked)), parse_location(str(tmp_path / "artifacts")))
    refused = (parse_location(str(stored)),)
    with open_source(f"file://{linked}/model.onnx", allowed=allowed, refused=refused) as source:
        assert source.read() == b"model"
    for name in ("escape.onnx", "stored.onnx"):
        with pytest.raises(PermissionError):
            open_source(f"file://{linked}/{name}", allowed=allowed, refused=refused)
