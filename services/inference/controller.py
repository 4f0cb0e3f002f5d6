"""What should be served, reconciled into the repository one deployment at a time.

The deployment watch (:mod:`.follower`) tells the controller what each
deployment wants; the controller resolves the wanted versions to artifacts
and applies the result to the :class:`~.repository.ModelRepository`.  Each
deployment has at most one reconciling task, which always applies the latest
wish: changes that arrive while a version loads are coalesced, and a
deployment deleted and created again is never confused with its old self.

Resolving can fail in two ways: for good (the registry does not know the
version, :class:`~.errors.ArtifactError`), which is applied and reported as
``LoadFailed``, or for now (the registry is unreachable,
:class:`~services.runtime.errors.Unavailable`), which is retried with backoff
while what served before keeps serving.  The first sync is complete once every
listed deployment has been applied or has failed to resolve once: one that
cannot be resolved yet does not keep the server from serving the others.

``RepositoryModelUnload`` unloads a deployment locally until its spec next
changes or it is loaded again (``RepositoryModelLoad``).  A load first asks
model management for the deployment's current spec (a :class:`~.wanted.SpecSource`),
so an explicit load never serves a spec the watch has not delivered yet.  An
explicit load also retries the versions of the deployment that failed to load.
Versions that failed because the artifact store or the local cache could not be
used, or because the cache or the device's memory had no room left for them
(``CACHE_FULL``, ``OUT_OF_MEMORY``: room appears as versions unload), are
retried on their own, backing off like unresolvable versions, and at once
when another deployment stops serving a version; other load failures (a
checksum mismatch, a model ONNX Runtime refuses) wait for a new spec or a
load.

A deployment's generations start over when it is deleted and created again;
its create time tells the two apart, also when the watch was away for both
changes and its next snapshot lists only the new one.  Once closed (at
shutdown), the controller takes no more work.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Set
from datetime import datetime
from typing import Any, NamedTuple

from services.inference.deployment import DeploymentSpec, DeploymentState, DeploymentStatus
from services.inference.errors import RETRIED_LOAD_FAILURES, WAITING_FOR_ROOM, ArtifactError, ModelNotFound
from services.inference.repository import ModelRepository
from services.inference.wanted import Artifact, Key, SpecSource, VersionResolver, WantedDeployment
from services.runtime.errors import DeadlineExceeded, FailedPrecondition, Unavailable
from services.runtime.tasks import wait_set

__all__ = ["DeploymentController", "IndexEntry"]

_log = logging.getLogger(__name__)


class _Applied(NamedTuple):
    wanted: WantedDeployment
    spec: DeploymentSpec


class IndexEntry(NamedTuple):
    """One row of ``RepositoryIndex``, with Triton's state names."""

    name: str
    version: str
    state: str
    """``READY``, ``LOADING``, ``UNLOADING`` or ``UNAVAILABLE``."""
    reason: str


_INDEX_STATES = {
    DeploymentState.PENDING: "LOADING",
    DeploymentState.FAILED: "UNAVAILABLE",
    DeploymentState.DELETING: "UNLOADING",
}


class DeploymentController:
    """Keeps the repository serving what the watch wants; see the module docstring."""

    def __init__(
        self,
        repository: ModelRepository,
        resolver: VersionResolver,
        *,
        source: SpecSource | None = None,
        retry_min_seconds: float = 0.5,
        retry_max_seconds: float = 30.0,
    ) -> None:
        self._repository = repository
        self._resolver = resolver
        self._source = source
        self._retry = (retry_min_seconds, retry_max_seconds)
        self._wanted: dict[Key, WantedDeployment] = {}
        self._unloaded: dict[Key, int] = {}
        """Generation at which a deployment was unloaded on request."""
        self._applied: dict[Key, _Applied] = {}
        self._dirty: set[Key] = set()
        self._workers: dict[Key, asyncio.Task[None]] = {}
        self._backing_off: dict[Key, asyncio.Event] = {}
        """Set to end a worker's wait before retrying, when something changed meanwhile."""
        self._progress = asyncio.Event()
        """Set when a worker ends or starts backing off: what the first sync waits for."""
        self._reload: set[Key] = set()
        """Deployments to apply again although their spec is unchanged: an explicit load retries the
        versions that failed to load (an artifact store that was unreachable, say)."""
        self._refetch: dict[Key, asyncio.TimerHandle] = {}
        """Timers that apply a deployment again because the artifact store could not be read."""
        self._refetch_delay: dict[Key, float] = {}
        """The wait before the next such retry, doubled up to the longest retry delay."""
        self._closed = False
        self._loads: dict[Key, set[asyncio.Future[Exception]]] = {}
        """Explicit loads waiting on a deployment, told when its versions cannot be resolved."""
        self._snapshot: set[Key] | None = None
        self._settling: asyncio.Task[None] | None = None
        self.synced = asyncio.Event()
        """Set once the first complete list of deployments has been applied (loaded or failed)."""

    def __repr__(self) -> str:
        return f"DeploymentController(wanted={len(self._wanted)}, reconciling={len(self._workers)})"

    def begin_snapshot(self) -> None:
        """The watch (re)starts: what it lists before :meth:`end_snapshot` is everything there is."""
        self._snapshot = set()

    def put(self, wanted: WantedDeployment) -> None:
        """A deployment exists with this spec (listed, created or updated)."""
        key = wanted.key
        if self._snapshot is not None:
            self._snapshot.add(key)
        current = self._wanted.get(key)
        if current is not None and wanted.older_than(current):
            return
        self._wanted[key] = wanted
        recreated = current is not None and wanted.recreates(current)
        if recreated or self._unloaded.get(key, wanted.generation) < wanted.generation:
            self._unloaded.pop(key, None)  # a new spec loads again
        self._kick(key)

    def delete(self, tenant: str, model_name: str, *, create_time: datetime | None = None) -> None:
        """The deployment is gone: drain and unload it.

        ``create_time`` is that of the deployment deleted, when known: a late
        deletion of an earlier incarnation leaves the current one alone.
        """
        key = (tenant, model_name)
        current = self._wanted.get(key)
        if current is not None and current.created_after(create_time):
            return
        self._wanted.pop(key, None)
        self._unloaded.pop(key, None)
        self._kick(key)

    def end_snapshot(self) -> None:
        """Everything is listed: drop what was not, and mark the first sync once all is applied."""
        listed, self._snapshot = self._snapshot, None
        if listed is not None:  # a second SYNCED of one session lists nothing: it must not drop everything
            for tenant, name in [key for key in self._wanted if key not in listed]:
                self.delete(tenant, name)
        if not self.synced.is_set() and self._settling is None:
            self._settling = asyncio.create_task(self._settle(), name="first-sync")

    async def _settle(self) -> None:
        while any(key not in self._backing_off for key in self._workers):
            self._progress.clear()
            await self._progress.wait()
        self.synced.set()
        _log.info(
            "first deployment sync applied", extra={"event": "synced", "deployments": len(self._wanted)}
        )

    async def load(self, tenant: str, model_name: str) -> DeploymentStatus:
        """Serve the deployment's current spec again (after an unload) and wait until it is applied.

        The spec is the one model management holds now; while it cannot be
        asked, the one the watch delivered last.
        """
        key = (tenant, model_name)
        self._check_open(model_name)
        if self._source is not None and (current := await self._source.current(tenant, model_name)):
            self.put(current)
        if key not in self._wanted:
            raise ModelNotFound(model_name)
        self._check_open(model_name)  # again: the shutdown may have begun while model management answered
        self._unloaded.pop(key, None)
        if self._some_version_failed(key):
            self._reload.add(key)
        self._kick(key)
        await self._applied_or_unresolvable(key, model_name)
        status = self._repository.status(model_name, tenant=tenant)
        if status.state == DeploymentState.FAILED:
            reasons = sorted({c.reason for c in status.conditions if c.type == "LoadFailed"})
            raise FailedPrecondition(
                f"model {model_name!r} failed to load: {', '.join(reasons) or 'no version loaded'}",
                reason="MODEL_LOAD_FAILED",
                metadata={"model": model_name},
            )
        return status

    async def unload(self, tenant: str, model_name: str) -> None:
        """Stop serving the deployment here until its spec changes or it is loaded again."""
        key = (tenant, model_name)
        wanted = self._wanted.get(key)
        if wanted is None:
            raise ModelNotFound(model_name)
        self._check_open(model_name)
        self._unloaded[key] = wanted.generation
        self._kick(key)
        await self._idle(key)

    def unloaded(self, tenant: str, model_name: str) -> bool:
        return (tenant, model_name) in self._unloaded

    def wanted_here(self, tenant: str, model_name: str) -> bool:
        """Whether this server should serve the deployment (it exists and was not unloaded here), whether
        or not a version of it is loaded yet."""
        key = (tenant, model_name)
        return key in self._wanted and key not in self._unloaded

    def index(self, tenant: str) -> list[IndexEntry]:
        """The tenant's deployments and their versions, in name order."""
        entries: list[IndexEntry] = []
        for key in sorted(k for k in self._wanted if k[0] == tenant):
            name = key[1]
            if key in self._unloaded:
                entries.append(IndexEntry(name, "", "UNAVAILABLE", "unloaded by RepositoryModelUnload"))
                continue
            try:
                status = self._repository.status(name, tenant=tenant)
                versions = self._repository.versions(name, tenant=tenant)
            except ModelNotFound:
                entries.append(IndexEntry(name, "", "LOADING", ""))
                continue
            entries += [IndexEntry(name, v.version, "READY", "") for v in versions]
            failed = [c for c in status.conditions if c.type == "LoadFailed" and c.status]
            entries += [
                IndexEntry(name, c.version.rsplit("/", 1)[-1], "UNAVAILABLE", c.message) for c in failed
            ]
            if not versions and not failed:
                entries.append(IndexEntry(name, "", _INDEX_STATES.get(status.state, "UNAVAILABLE"), ""))
        return entries

    async def close(self) -> None:
        """Stop reconciling (shutdown); the repository is closed by its owner."""
        self._closed = True  # a load arriving now would load versions nobody unloads any more
        for key in list(self._refetch):
            self._cancel_refetch(key)
        tasks = [*self._workers.values(), *([self._settling] if self._settling else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _check_open(self, model_name: str) -> None:
        if self._closed:
            raise Unavailable(
                f"model {model_name!r} cannot be loaded or unloaded: the server is shutting down",
                reason="SHUTTING_DOWN",
            )

    def _retry_unreadable_artifacts(self, key: Key) -> None:
        """After an apply: when a version failed because the artifact store could not be read, or the
        cache could not be used or had no room (faults that pass, unlike a checksum mismatch), apply
        the deployment again later, backing off."""
        self._cancel_refetch(key)
        if not self._load_failed(key, RETRIED_LOAD_FAILURES):
            self._refetch_delay.pop(key, None)
            return
        delay = self._refetch_delay.get(key, self._retry[0])
        self._refetch_delay[key] = min(delay * 2, self._retry[1])
        self._refetch[key] = asyncio.get_running_loop().call_later(delay, self._refetch_now, key)

    def _retry_waiting_for_room(self, changed: Key) -> None:
        """``changed`` was unloaded or routes other versions now: the artifact cache or the device
        may have room for the deployments waiting for it (``CACHE_FULL``, ``OUT_OF_MEMORY``), which
        are retried at once.

        Only a change of what a deployment serves calls this, never a retry, so that two
        deployments waiting for room do not wake each other in turn.
        """
        for key in list(self._refetch):
            if key != changed and self._load_failed(key, WAITING_FOR_ROOM):
                self._refetch[key].cancel()
                self._refetch_now(key)

    def _load_failed(self, key: Key, reasons: Set[str]) -> bool:
        """Whether a version of the deployment served under ``key`` failed to load for one of ``reasons``."""
        status = self._served_status(key)
        conditions = status.conditions if status is not None else ()
        return any(c.type == "LoadFailed" and c.reason in reasons for c in conditions)

    def _refetch_now(self, key: Key) -> None:
        del self._refetch[key]
        if key in self._wanted and key not in self._unloaded:
            self._reload.add(key)
            self._kick(key)

    def _cancel_refetch(self, key: Key) -> None:
        if (timer := self._refetch.pop(key, None)) is not None:
            timer.cancel()

    def _some_version_failed(self, key: Key) -> bool:
        status = self._served_status(key)
        return status is not None and status.state in (DeploymentState.FAILED, DeploymentState.DEGRADED)

    def _served_status(self, key: Key) -> DeploymentStatus | None:
        """The repository's status of the deployment; None when it serves nothing under that name."""
        try:
            return self._repository.status(key[1], tenant=key[0])
        except ModelNotFound:
            return None

    def _kick(self, key: Key) -> None:
        if self._closed:
            return
        self._dirty.add(key)
        if (backing_off := self._backing_off.get(key)) is not None:
            backing_off.set()
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(
                self._reconcile(key), name=f"reconcile-{key[0]}-{key[1]}"
            )

    async def _applied_or_unresolvable(self, key: Key, model_name: str) -> None:
        """Wait until the deployment is applied; UNAVAILABLE as soon as model management cannot
        resolve its versions (the deployment keeps being retried in the background)."""
        worker = self._workers.get(key)
        if worker is None:
            return
        unresolvable: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()
        self._loads.setdefault(key, set()).add(unresolvable)
        try:
            # asyncio.wait leaves the worker running when this call is cancelled.
            either: set[asyncio.Future[Any]] = {worker, unresolvable}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting = self._loads.get(key, set())
            waiting.discard(unresolvable)
            if not waiting:
                self._loads.pop(key, None)
        if unresolvable.done() and not worker.done():
            raise Unavailable(
                f"model {model_name!r} cannot be loaded now: {unresolvable.result()}; it is retried",
                retry_after_seconds=self._retry[0],
            )

    async def _idle(self, key: Key) -> None:
        worker = self._workers.get(key)
        if worker is not None:
            await asyncio.shield(worker)

    async def _reconcile(self, key: Key) -> None:
        delay = self._retry[0]
        try:
            while key in self._dirty:
                self._dirty.discard(key)
                wanted = self._wanted.get(key)
                if wanted is None or key in self._unloaded:
                    self._applied.pop(key, None)
                    self._reload.discard(key)
                    self._cancel_refetch(key)
                    self._refetch_delay.pop(key, None)
                    await self._repository.remove(key[1], tenant=key[0])
                    self._retry_waiting_for_room(key)
                    continue
                try:
                    spec = wanted.spec(await self._resolve(wanted))
                except (Unavailable, DeadlineExceeded) as error:
                    for load in self._loads.pop(key, set()):
                        if not load.done():
                            load.set_result(error)
                    _log.warning(
                        "cannot resolve the versions of %s yet: %s",
                        wanted.name,
                        error,
                        extra={"tenant": key[0], "deployment": wanted.name, "retry_in_seconds": delay},
                    )
                    self._dirty.add(key)
                    await self._back_off(key, delay)
                    delay = min(delay * 2, self._retry[1])
                    continue
                delay = self._retry[0]
                applied = self._applied.get(key)
                if applied is not None and wanted.recreates(applied.wanted):
                    # Deleted and created again while the watch was away: its generations start over,
                    # and the repository would take the new spec for a stale one of the old deployment.
                    del self._applied[key]
                    await self._repository.remove(key[1], tenant=key[0])
                    applied = None
                if applied is None or applied.spec != spec or key in self._reload:
                    self._reload.discard(key)
                    # The same spec again only retries what failed: what serves keeps its state meanwhile.
                    again = applied is not None and applied.spec == spec
                    await self._repository.apply(spec, again=again)
                    self._retry_unreadable_artifacts(key)
                    if applied is not None and not again:
                        self._retry_waiting_for_room(key)  # the versions it no longer routes left room
                self._applied[key] = _Applied(wanted, spec)
        except Exception:
            _log.exception("reconciling deployment %s failed", key[1], extra={"tenant": key[0]})
        finally:
            del self._workers[key]
            self._progress.set()

    async def _back_off(self, key: Key, delay: float) -> None:
        """Wait ``delay`` seconds, or less when the deployment changes, is unloaded or loaded meanwhile."""
        event = self._backing_off[key] = asyncio.Event()
        self._progress.set()
        try:
            await wait_set(event, delay)
        finally:
            del self._backing_off[key]

    async def _resolve(self, wanted: WantedDeployment) -> dict[str, Artifact | ArtifactError]:
        versions = [version for version, _ in wanted.targets]

        async def one(version: str) -> Artifact | ArtifactError:
            try:
                return await self._resolver.resolve(wanted.tenant, version)
            except ArtifactError as error:
                return error

        return dict(zip(versions, await asyncio.gather(*(one(v) for v in versions)), strict=True))
