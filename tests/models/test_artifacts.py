"""Content-addressed artifact storage on a local directory and in memory."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import fsspec
import pytest

from services.models.artifacts import ArtifactStorage


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
