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
import uuid
from pathlib import Path
from typing import IO, Any

import fsspec
import fsspec.core
from fsspec.implementations.local import LocalFileSystem

_STORED = "sha256"


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
        so readers never see a partial artifact.  ``local_file`` may be
        consumed (moved) by the call.
        """
        target = self._path(sha256)
        if self._fs.exists(target):
            return self.uri(sha256)
        parent = target.rsplit("/", 1)[0]
        self._fs.makedirs(parent, exist_ok=True)
        if self._local and self._rename_local(local_file, target):
            return self.uri(sha256)
        partial = f"{parent}/.{sha256}.{uuid.uuid4().hex}.partial"
        try:
            self._fs.put_file(str(local_file), partial)
            self._fs.mv(partial, target)
        except BaseException:
            with contextlib.suppress(OSError):
                self._fs.rm_file(partial)
            raise
        return self.uri(sha256)

    def _rename_local(self, local_file: Path, target: str) -> bool:
        try:
            os.replace(local_file, target)
        except OSError as error:
            if error.errno == errno.EXDEV:
                return False
            raise
        # The rename is only durable once the directory entry is on disk.
        directory = os.open(os.path.dirname(target), os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return True

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


def open_source(uri: str) -> IO[bytes]:
    """Open an import's source, a plain location (see :mod:`services.models.sources`), for reading.

    Opened through its filesystem rather than ``fsspec.open``, which would expand wildcards.
    """
    fs, path = fsspec.core.url_to_fs(uri)
    opened: IO[bytes] = fs.open(path, "rb")
    return opened
