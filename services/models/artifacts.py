"""Content-addressed artifact storage through fsspec.

One setting picks the backend: a local directory (the default,
``<data_dir>/artifacts``) or any fsspec URL (``memory://`` in tests, object
storage in production).  An artifact lives at ``<root>/sha256/<ab>/<hex>``:
its key is its checksum, so equal files are stored once, a stored file is
never rewritten, and a reader can verify what it fetched against the name.

Every method is blocking; the core calls them from worker threads.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import fsspec
import fsspec.core
from fsspec.implementations.local import LocalFileSystem

from services.models.sources import Location, is_inside

_STORED = "sha256"
_COPY_CHUNK = 1 << 20


class ArtifactStorage:
    """The artifact store at ``url``; created on first use."""

    def __init__(self, url: str) -> None:
        self._url = url
        fs, root = fsspec.core.url_to_fs(url)
        self._fs: Any = fs
        self._root: str = root.rstrip("/")
        self._local = isinstance(fs, LocalFileSystem)

    def __repr__(self) -> str:
        return f"ArtifactStorage({self.root_uri!r})"

    @property
    def root_uri(self) -> str:
        """The storage root as a URL with its protocol (``file:///...``, ``memory:///...``)."""
        uri: str = self._fs.unstrip_protocol(self._root)
        return uri

    @property
    def stored_uri(self) -> str:
        """The folder of the stored artifacts themselves, shared by every tenant."""
        uri: str = self._fs.unstrip_protocol(f"{self._root}/{_STORED}")
        return uri

    def _path(self, sha256: str) -> str:
        return f"{self._root}/{_STORED}/{sha256[:2]}/{sha256}"

    def uri(self, sha256: str) -> str:
        """Where the artifact with this checksum is (or would be) stored."""
        uri: str = self._fs.unstrip_protocol(self._path(sha256))
        return uri

    def check(self) -> None:
        """Create the root if needed and prove it is writable; raises OSError when it is not."""
        self._fs.makedirs(self._root, exist_ok=True)
        probe = f"{self._root}/.probe-{uuid.uuid4().hex}"
        self._fs.pipe_file(probe, b"")
        self._fs.rm_file(probe)

    def exists(self, sha256: str) -> bool:
        return bool(self._fs.exists(self._path(sha256)))

    def put(self, local_file: Path, sha256: str) -> str:
        """Store ``local_file`` (already verified to hash to ``sha256``) and return its URI.

        The file appears under its key in one step (a rename) or not at all,
        so readers never see a partial artifact, and on a local directory it
        is on disk (its bytes and every directory entry leading to it) when
        the call returns.  ``local_file`` may be consumed (moved) by the call.
        """
        target = self._path(sha256)
        if self._fs.exists(target):
            return self.uri(sha256)
        parent = target.rsplit("/", 1)[0]
        partial = f"{parent}/.{sha256}.{uuid.uuid4().hex}.partial"
        if self._local:
            _makedirs_durably(parent)
            if not _renamed(local_file, target):
                _store_copy(local_file, partial, target)
            _fsync_directory(parent)
            return self.uri(sha256)
        self._fs.makedirs(parent, exist_ok=True)
        try:
            self._fs.put_file(str(local_file), partial)
            self._fs.mv(partial, target)
        except BaseException:
            with contextlib.suppress(OSError):
                self._fs.rm_file(partial)
            raise
        return self.uri(sha256)

    def delete(self, sha256: str) -> None:
        """Remove the artifact; absent is fine (a retried delete)."""
        with contextlib.suppress(FileNotFoundError):
            self._fs.rm_file(self._path(sha256))

    def keys(self) -> list[str]:
        """Checksums of every stored artifact (for tests and consistency checks)."""
        pattern = f"{self._root}/{_STORED}/*/*"
        return sorted(
            path.rsplit("/", 1)[1] for path in self._fs.glob(pattern) if not path.endswith(".partial")
        )


def _renamed(local_file: Path, target: str) -> bool:
    """Move ``local_file`` to ``target``; False when they lie on different filesystems."""
    try:
        os.replace(local_file, target)
    except OSError as error:
        if error.errno == errno.EXDEV:
            return False
        raise
    return True


def _store_copy(local_file: Path, partial: str, target: str) -> None:
    """Copy ``local_file`` to ``partial``, flush it to disk, then rename it to ``target``."""
    try:
        with local_file.open("rb") as source, open(partial, "xb") as sink:
            shutil.copyfileobj(source, sink, _COPY_CHUNK)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


def _makedirs_durably(directory: str) -> None:
    """Create ``directory`` and its missing parents, each entry flushed to disk in its own parent."""
    missing = []
    while not os.path.isdir(directory):
        missing.append(directory)
        directory = os.path.dirname(directory)
    for created in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(created)
        _fsync_directory(os.path.dirname(created))


def _fsync_directory(directory: str) -> None:
    """A new or renamed entry is only durable once its directory is on disk."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def open_source(uri: str, *, allowed: Sequence[Location] = (), refused: Sequence[Location] = ()) -> IO[bytes]:
    """Open an import's source, a plain location (see :mod:`services.models.sources`), for reading.

    Opened through its filesystem rather than ``fsspec.open``, which would expand wildcards.  A local
    file is judged again once open, by the path it really has: a symbolic link under one of the
    ``allowed`` folders must not lead out of them, or into a ``refused`` one (PermissionError).
    """
    fs, path = fsspec.core.url_to_fs(uri)
    opened: IO[bytes] = fs.open(path, "rb")
    if allowed and isinstance(fs, LocalFileSystem):
        try:
            real = _real_path(opened, path)
            if not is_inside(real, allowed) or is_inside(real, refused):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), uri)
        except BaseException:
            opened.close()
            raise
    return opened


def _real_path(opened: IO[bytes], path: str) -> str:
    """The path of the file ``opened`` names, every link resolved: the file itself, not its name now."""
    try:
        return os.readlink(f"/proc/self/fd/{opened.fileno()}")
    except OSError:
        return os.path.realpath(path)
