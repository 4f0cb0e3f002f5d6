"""Where ImportModelVersion may read from, decided on the URI's text alone.

A client's ``artifact_uri`` is judged before any filesystem is built for it:
fsspec builds some filesystems by connecting to the host a URL names (ftp,
http, sftp), and chained or wrapping URLs (``zip://a::file:///etc/x``,
``reference://...``) open other files while being built.  So a source is
accepted only when it is an absolute local path or ``scheme://path`` with
the scheme of one of the allowed locations (the artifact storage root and
the configured prefixes) and a path under it; the filesystem is first built
by the import's worker thread, when it opens the source.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from services.models.validation import has_control_characters

MAX_URI_LENGTH = 2048
"""Longest ``artifact_uri`` accepted, in characters; object stores allow keys of about 1 KiB."""

_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
# fsspec's two names for the local filesystem.
_LOCAL_SCHEMES = ("file", "local")
# Filesystems whose paths fsspec spells from a root ("memory:///b/x"); object stores start with the bucket.
_ROOTED_SCHEMES = ("file", "memory")


@dataclass(frozen=True)
class Location:
    """A file or folder of one filesystem: its scheme and its path's non-empty segments."""

    scheme: str
    segments: tuple[str, ...]

    @property
    def uri(self) -> str:
        """The location as fsspec spells it: ``file:///data/x``, ``memory:///b/x``, ``s3://b/x``."""
        path = "/".join(self.segments)
        return f"{self.scheme}:///{path}" if self.scheme in _ROOTED_SCHEMES else f"{self.scheme}://{path}"

    def is_under(self, folder: Location) -> bool:
        """Whether this location lies strictly inside ``folder`` (whole segments, same scheme)."""
        depth = len(folder.segments)
        return (
            self.scheme == folder.scheme
            and len(self.segments) > depth
            and self.segments[:depth] == folder.segments
        )


def parse_location(uri: str) -> Location:
    """``uri`` as a :class:`Location`; ValueError saying why it is not a plain one."""
    if len(uri) > MAX_URI_LENGTH:
        raise ValueError(f"at most {MAX_URI_LENGTH} characters, got {len(uri)}")
    if has_control_characters(uri):
        raise ValueError("must not contain control characters")
    if "::" in uri:
        raise ValueError("chained URLs ('::') are not allowed")
    scheme, separator, path = uri.partition("://")
    if not separator:
        scheme, path = "file", uri
    if not _SCHEME.fullmatch(scheme) or (not separator and not path.startswith("/")):
        raise ValueError("must be an absolute path or a URL of the form scheme://path")
    if scheme in _LOCAL_SCHEMES:
        scheme = "file"
        if not path.startswith("/"):
            raise ValueError("local paths must be absolute")
    segments = tuple(segment for segment in path.split("/") if segment)
    if any(segment in (".", "..") for segment in segments):
        raise ValueError("relative path segments are not allowed")
    if not segments:
        raise ValueError("names no file")
    return Location(scheme, segments)


def is_inside(real_path: str, folders: Sequence[Location]) -> bool:
    """Whether the local ``real_path`` (links resolved) lies inside one of the local ``folders``.

    Each folder is compared by its own resolved path, so a folder configured through a link still holds.
    """
    try:
        found = parse_location(real_path)
    except ValueError:
        return False
    for folder in folders:
        if folder.scheme != "file":
            continue
        resolved = parse_location(os.path.realpath("/" + "/".join(folder.segments)))
        if found.is_under(resolved):
            return True
    return False
