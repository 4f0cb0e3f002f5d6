"""Importing a version whose artifact already lies in storage, as a long-running operation.

The call records a PENDING version and its operation in one transaction and
returns; a background task copies the source into content-addressed storage
while checking its size and SHA-256, checks it as ONNX, and then marks the
version READY (with its signature) or FAILED, and the operation done.
Imports that a restart interrupted are picked up again by :meth:`resume`.

Sources are restricted to the artifact storage root and the configured
prefixes: an import must not read arbitrary files of the server.  The stored
artifacts themselves are no source: they are shared by every tenant, and
knowing another tenant's checksum must not be enough to copy its model.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO

from sqlalchemy.orm import Session

from services.models import errors, names
from services.models.artifact_refs import ArtifactReferences
from services.models.artifacts import open_source
from services.models.clock import Clock, utcnow
from services.models.domain import ImportOperation, OperationError, VersionFields
from services.models.enums import ArtifactFormat, VersionState
from services.models.onnx_inspect import inspect_onnx
from services.models.sources import parse_location
from services.models.staging import ArtifactWriter, check_size_limit, open_staging_file
from services.models.store import models as model_rows
from services.models.store import operations, versions
from services.models.uploads import check_version_fields, new_version
from services.models.validation import Violations, check_sha256
from services.runtime.auth import current_identity
from services.runtime.errors import Code, DomainError, NotFound
from services.runtime.store import Database
from services.runtime.tasks import cancel_and_wait, opened_in_thread, wait_set

_log = logging.getLogger(__name__)

LEASE_SECONDS = 30.0
"""How long an import stays with its process without a renewal; the process renews every third of it,
and another replica takes over an import whose lease ran out (its process died)."""

_CHUNK_BYTES = 1024 * 1024
# Progress is written every this many bytes: often enough to watch, rarely enough not to load the store.
_PROGRESS_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ImportRequest:
    """What ImportModelVersion asks for; ``size_bytes`` 0 means the size is not declared."""

    parent: str
    artifact_uri: str
    sha256: str
    format: ArtifactFormat
    size_bytes: int = 0
    fields: VersionFields = field(default_factory=VersionFields)


@dataclass(frozen=True)
class _Job:
    tenant: str
    model_id: str
    operation_id: str
    version: int
    source_uri: str
    sha256: str
    expected_size: int | None


class Imports:
    """ImportModelVersion and GetOperation, and the background tasks behind them."""

    def __init__(
        self,
        db: Database,
        artifacts: ArtifactReferences,
        *,
        staging_dir: Path,
        max_bytes: int,
        allowed_prefixes: Sequence[str] = (),
        clock: Clock = utcnow,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self._db = db
        self._artifacts = artifacts
        self._staging_dir = staging_dir
        self._max_bytes = max_bytes
        self._allowed = tuple(
            parse_location(prefix) for prefix in (artifacts.storage.root_uri, *allowed_prefixes)
        )
        self._stored = parse_location(artifacts.storage.stored_uri)
        self._clock = clock
        self._lease = timedelta(seconds=lease_seconds)
        self.runner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        """This process, as the imports it runs record it."""
        self._running: dict[str, asyncio.Task[None]] = {}
        """Imports this process runs, by operation id."""
        self._jobs: dict[str, _Job] = {}
        self._keeper: asyncio.Task[None] | None = None
        self._stop_keeping = asyncio.Event()

    def __repr__(self) -> str:
        return f"Imports(allowed={self._allowed!r}, running={len(self._running)})"

    def _source(self, violations: Violations, uri: str) -> str:
        """The source as the import will open it; judged on its text, no filesystem is built here."""
        field = "model_version.artifact_uri"
        if not uri:
            violations.add(field, "is required")
            return ""
        try:
            location = parse_location(uri)
        except ValueError as error:
            violations.add(field, f"is not a usable URI: {error}")
            return ""
        if not any(location.is_under(folder) for folder in self._allowed):
            listed = ", ".join(f"{folder.uri}/" for folder in self._allowed)
            violations.add(field, f"must lie under one of {listed}")
            return ""
        if location.is_under(self._stored):
            # Every tenant's artifacts lie there by checksum: reading one needs its bytes, not its hash.
            violations.add(
                field,
                f"must not lie under {self._stored.uri}/, where stored artifacts are kept; "
                "upload the file, or import it from another folder",
            )
            return ""
        return location.uri

    def _check(self, request: ImportRequest) -> tuple[str, str]:
        model_id = names.parse_model_name(request.parent, "parent")
        violations = Violations()
        source = self._source(violations, request.artifact_uri)
        check_sha256(violations, "model_version.sha256", request.sha256)
        if request.format != ArtifactFormat.ONNX:
            violations.add("model_version.format", "is required; ARTIFACT_FORMAT_ONNX is supported")
        if request.size_bytes < 0:
            violations.add("model_version.size_bytes", "must not be negative")
        check_version_fields(violations, "model_version", request.fields)
        violations.raise_if_any()
        check_size_limit(request.size_bytes, self._max_bytes, "model_version.size_bytes")
        return model_id, source

    async def import_version(self, request: ImportRequest) -> ImportOperation:
        """Record the PENDING version and its operation, start the import, and return the operation."""
        model_id, source = self._check(request)
        identity = current_identity()
        tenant = identity.tenant
        operation_id = uuid.uuid4().hex

        def work(session: Session) -> ImportOperation:
            now = self._clock()
            number = model_rows.allocate_version(session, tenant, model_id, now)
            version = dataclasses.replace(
                new_version(model_id, number, request.fields, creator=identity.subject),
                state=VersionState.PENDING,
                artifact_uri=source,
                sha256=request.sha256,
                size_bytes=request.size_bytes,
                format=request.format,
            )
            versions.insert(session, tenant, version, now)
            operation = ImportOperation(model_id, operation_id, number, source)
            return operations.insert(
                session,
                tenant,
                operation,
                request.size_bytes or None,
                now,
                runner=self.runner,
                lease_expires=now + self._lease,
            )

        operation = await self._db.write(work)
        expected = request.size_bytes or None
        self._start(_Job(tenant, model_id, operation_id, operation.version, source, request.sha256, expected))
        return operation

    async def get_operation(self, name: str) -> ImportOperation:
        model_id, operation_id = names.parse_operation_name(name, "name")
        tenant = current_identity().tenant
        return await self._db.read(lambda session: operations.get(session, tenant, model_id, operation_id))

    async def resume(self) -> int:
        """Start the unfinished imports no live process runs: left by a stopped process, or by one
        whose lease ran out.  Returns how many this process took."""

        def jobs(session: Session) -> list[_Job]:
            found = []
            for tenant, operation, expected in operations.unfinished(session, free_at=self._clock()):
                if operation.operation_id in self._running:
                    continue
                sha256 = versions.get(session, tenant, operation.model_id, operation.version).sha256
                found.append(
                    _Job(
                        tenant,
                        operation.model_id,
                        operation.operation_id,
                        operation.version,
                        operation.source_uri,
                        sha256,
                        expected,
                    )
                )
            return found

        taken = 0
        for job in await self._db.read(jobs):
            if await self._db.write(functools.partial(self._claim, job)):
                self._start(job)
                taken += 1
        return taken

    def _claim(self, job: _Job, session: Session) -> bool:
        now = self._clock()
        return operations.claim(
            session,
            job.tenant,
            job.model_id,
            job.operation_id,
            runner=self.runner,
            now=now,
            lease_expires=now + self._lease,
        )

    def start_keeping(self) -> None:
        """Renew the leases of the imports running here, and take over those whose runner is gone."""
        if self._keeper is None:
            self._stop_keeping = asyncio.Event()
            self._keeper = asyncio.create_task(self._keep(self._stop_keeping), name="imports-keeper")

    async def _keep(self, stop: asyncio.Event) -> None:
        while True:
            if await wait_set(stop, self._lease.total_seconds() / 3):
                return
            try:
                await self._renew()
                await self.resume()
            except Exception:
                # The store may be unreachable for a while; the next round tries again.
                _log.warning(
                    "could not renew or take over imports", exc_info=True, extra={"event": "imports_keep"}
                )

    async def _renew(self) -> None:
        keys = [(job.tenant, job.model_id, job.operation_id) for job in self._jobs.values()]
        if keys:
            until = self._clock() + self._lease
            await self._db.write(
                lambda session: operations.renew(session, keys, runner=self.runner, lease_expires=until)
            )

    async def wait_idle(self) -> None:
        """Wait for every running import to finish (tests and orderly shutdown)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def stop_keeping(self) -> None:
        """Stop renewing leases and taking over imports (part of :meth:`close`)."""
        keeper, self._keeper = self._keeper, None
        if keeper is None:
            return
        # A round in progress finishes rather than being cancelled: its renewal, committed by its thread
        # after :meth:`close` gave the leases back, would hold them again until they ran out.
        self._stop_keeping.set()
        _, late = await asyncio.wait({keeper}, timeout=self._lease.total_seconds())
        await cancel_and_wait(list(late))

    async def close(self) -> None:
        """Cancel running imports and give up their leases; they resume on the next start (here or on
        another replica) without waiting for the leases to run out."""
        await self.stop_keeping()
        running = list(self._running.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._db.write(lambda session: operations.release(session, runner=self.runner))

    def _start(self, job: _Job) -> None:
        task = asyncio.create_task(self._run(job), name=f"import-{job.operation_id}")
        self._running[job.operation_id] = task
        self._jobs[job.operation_id] = job

        def forget(_: asyncio.Task[None]) -> None:
            self._running.pop(job.operation_id, None)
            self._jobs.pop(job.operation_id, None)

        task.add_done_callback(forget)

    async def _run(self, job: _Job) -> None:
        copied = 0
        staged: Path | None = None
        try:
            out, path = await open_staging_file(self._staging_dir, "import-")
            staged = path
            with out:
                copied = await self._copy(job, out)
            info = await asyncio.to_thread(inspect_onnx, path)
            values = {
                "state": VersionState.READY,
                "size_bytes": copied,
                "onnx_opset": info.opset,
                "inputs": info.inputs,
                "outputs": info.outputs,
            }

            async def commit(uri: str) -> None:
                ready = {**values, "artifact_uri": uri}
                await self._db.write(lambda session: self._finish(session, job, copied, ready, None))

            # From here on the artifact store owns (and removes) the staged file.
            staged = None
            await self._artifacts.store(path, job.sha256, commit)
        except DomainError as error:
            await self._fail(job, copied, OperationError(int(error.code), error.reason, error.message))
        except Exception as error:
            full = errors.storage_full(error) if isinstance(error, OSError) else None
            if full is not None:
                _log.error("import %s: no space left to store it", job.operation_id, exc_info=error)
                await self._fail(job, copied, OperationError(int(full.code), full.reason, full.message))
            else:
                _log.exception("import %s failed unexpectedly", job.operation_id)
                await self._fail(
                    job, copied, OperationError(int(Code.INTERNAL), "INTERNAL", "internal error")
                )
        finally:
            if staged is not None:
                staged.unlink(missing_ok=True)

    async def _copy(self, job: _Job, out: IO[bytes]) -> int:
        writer = ArtifactWriter(
            out, sha256=job.sha256, size_bytes=job.expected_size, max_bytes=self._max_bytes
        )
        reported = 0
        try:
            opening = functools.partial(
                open_source, job.source_uri, allowed=self._allowed, refused=(self._stored,)
            )
            source = await opened_in_thread(opening, _close)
        except OSError as error:
            raise _unreadable(job, error) from error
        try:
            while chunk := await _read(job, source):
                await writer.write(chunk)
                if writer.size - reported >= _PROGRESS_BYTES:
                    reported = writer.size
                    await self._db.write(functools.partial(self._progress, job, reported))
        finally:
            await asyncio.to_thread(source.close)
        await writer.finish()
        return writer.size

    @staticmethod
    def _progress(job: _Job, copied: int, session: Session) -> None:
        operations.set_progress(session, job.tenant, job.model_id, job.operation_id, copied)

    def _finish(
        self,
        session: Session,
        job: _Job,
        copied: int,
        values: dict[str, object],
        error: OperationError | None,
    ) -> None:
        now = self._clock()
        if versions.find(session, job.tenant, job.model_id, job.version, lock=True) is None:
            # Deleted while importing: its operation went with it.
            raise NotFound("the version was deleted during its import", reason=errors.VERSION_DELETED)
        if operations.get(session, job.tenant, job.model_id, job.operation_id).done:
            # Another replica resumed the same import and finished first (the version row lock orders
            # the two): its outcome stands.
            return
        versions.update(session, job.tenant, job.model_id, job.version, values, now)
        operations.finish(session, job.tenant, job.model_id, job.operation_id, now, copied, error)

    async def _fail(self, job: _Job, copied: int, error: OperationError) -> None:
        if error.reason == errors.VERSION_DELETED:
            return
        values: dict[str, object] = {"state": VersionState.FAILED, "state_message": error.message}
        with contextlib.suppress(NotFound):
            await self._db.write(lambda session: self._finish(session, job, copied, values, error))
        # While PENDING the row kept the checksum's artifact alive (another version may have stored
        # it); a delete of that version meanwhile left the file to this row, which no longer counts.
        await self._artifacts.release([job.sha256])


def _close(source: IO[bytes]) -> None:
    source.close()


async def _read(job: _Job, source: IO[bytes]) -> bytes:
    try:
        return await asyncio.to_thread(source.read, _CHUNK_BYTES)
    except OSError as error:
        raise _unreadable(job, error) from error


def _unreadable(job: _Job, error: OSError) -> DomainError:
    """The client's source cannot be read: their problem, told without the server's view of it."""
    # The exception's text may name server paths (a local source's resolved path, a mount point);
    # the errno's standard text does not.
    _log.info("import %s cannot read its source", job.operation_id, exc_info=error)
    cause = os.strerror(error.errno) if error.errno else "the source could not be read"
    return errors.artifact_error(errors.ARTIFACT_UNREADABLE, f"cannot read {job.source_uri}: {cause}")
