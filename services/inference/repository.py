"""The versions loaded per deployment, and the routing of requests to them.

Applying a spec loads the versions it adds *before* any traffic reaches
them, then swaps the deployment's routing table in one assignment (the event
loop makes that atomic for every request), then retires the versions no
longer routed; those drain and unload on their own.  So traffic changes and
redeploys fail no request.

A version that cannot be loaded (unreachable artifact, checksum mismatch,
invalid model) never replaces what serves: the new table holds the versions
of the spec that did load, or, when none with traffic did, the previous
table stays.  Nothing here calls the registry, so serving goes on while it
is unreachable.

The artifact cache never evicts the artifact of a version that is routed or
loading here (:meth:`ModelRepository.needed_artifacts`), nor lets the other
worker processes sharing it do so; a retired version needs its file no more
(its sessions were built from the bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.inference.artifacts import ArtifactCache
from services.inference.batcher import QueueBudget
from services.inference.deployment import (
    Condition,
    DeploymentSpec,
    DeploymentState,
    DeploymentStatus,
    VersionStatus,
)
from services.inference.errors import ArtifactError, DomainError, ModelNotFound, VersionNotFound
from services.inference.sessions import create_session
from services.inference.stats import InferenceObserver
from services.inference.traffic import TrafficSplitter
from services.inference.validation import InputTensor
from services.inference.version import (
    InferenceResult,
    LoadedVersion,
    SessionFactory,
    VersionConfig,
    load_version,
)

__all__ = ["ModelRepository", "StatusCallback"]

_log = logging.getLogger(__name__)

StatusCallback = Callable[[DeploymentStatus], None]
"""Receives every change of a deployment's status; must not block (schedule the report)."""


@dataclass(frozen=True)
class _Routes:
    versions: dict[str, LoadedVersion]
    """Routable versions by ``model_version``."""
    splitter: TrafficSplitter


@dataclass
class _Deployment:
    spec: DeploymentSpec
    state: DeploymentState = DeploymentState.PENDING
    conditions: dict[tuple[str, str], Condition] = field(default_factory=dict)
    draining: set[LoadedVersion] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class ModelRepository:
    """Loads, routes and unloads the versions of every deployment this process serves."""

    def __init__(
        self,
        artifacts: ArtifactCache,
        *,
        session_factory: SessionFactory = create_session,
        observer: InferenceObserver | None = None,
        on_status: StatusCallback | None = None,
        rng: random.Random | None = None,
        queue_budget: QueueBudget | None = None,
    ) -> None:
        self._artifacts = artifacts
        self._queue_budget = queue_budget
        self._session_factory = session_factory
        self._observer = observer
        self._on_status = on_status
        self._rng = rng
        self._deployments: dict[tuple[str, str], _Deployment] = {}
        self._routes: dict[tuple[str, str], _Routes] = {}
        self._loading: Counter[str] = Counter()
        """Checksums of the versions being loaded until they are routed or dropped (under _loading_lock)."""
        self._loading_lock = threading.Lock()
        artifacts.protect(self.needed_artifacts)

    @property
    def queue_budget(self) -> QueueBudget | None:
        """What the batching queues of every version loaded here may hold together."""
        return self._queue_budget

    def needed_artifacts(self) -> frozenset[str]:
        """The checksums of the artifacts of every version routed or loading here, which the artifact
        cache must keep; safe from any thread (the cache asks from its download threads)."""
        with self._loading_lock:
            needed = set(self._loading)
        for routes in list(self._routes.values()):  # one-step copies, as in loaded()
            needed.update(v.config.sha256.lower() for v in list(routes.versions.values()))
        return frozenset(needed)

    def route(self, model_name: str, model_version: str = "", *, tenant: str = "") -> LoadedVersion:
        """The version serving the next request: the pinned one, else the split's pick."""
        routes = self._routes.get((tenant, model_name))
        if routes is None:
            raise ModelNotFound(model_name)
        if model_version:
            version = routes.versions.get(model_version)
            if version is None:
                raise VersionNotFound(model_name, model_version)
            return version
        return routes.versions[routes.splitter.pick()]

    async def infer(
        self,
        model_name: str,
        model_version: str,
        inputs: Sequence[InputTensor],
        outputs: Sequence[str] = (),
        *,
        tenant: str = "",
        deadline: float | None = None,
        context: object = None,
        arrival_ns: int = 0,
    ) -> InferenceResult:
        """Route and run one request (see :meth:`LoadedVersion.infer`)."""
        # Routing and the version's in-flight increment happen in one step of
        # the event loop, so a concurrent swap cannot unload the chosen version.
        version = self.route(model_name, model_version, tenant=tenant)
        return await version.infer(inputs, outputs, deadline=deadline, context=context, arrival_ns=arrival_ns)

    def reject(
        self,
        model_name: str,
        model_version: str,
        error: DomainError,
        *,
        tenant: str = "",
        arrival_ns: int,
        context: object = None,
    ) -> None:
        """Count a request that failed before :meth:`infer` (its message could not be read as inputs)
        against the version it would have run on.

        That is the pinned version, else the split's pick: a request that fails validation inside
        :meth:`infer` has taken its turn in the split too, so both kinds of invalid request land on
        the versions in the split's proportions.  With no such version loaded (an unknown
        deployment or version) there are no statistics to count it in, as in Triton.
        """
        try:
            version = self.route(model_name, model_version, tenant=tenant)
        except (ModelNotFound, VersionNotFound):
            return
        version.reject(error, arrival_ns, context)

    def versions(self, model_name: str, *, tenant: str = "") -> list[LoadedVersion]:
        """The routable versions of a deployment (for metadata, readiness and statistics)."""
        routes = self._routes.get((tenant, model_name))
        if routes is None:
            raise ModelNotFound(model_name)
        return list(routes.versions.values())

    def loaded(self) -> list[tuple[str, LoadedVersion]]:
        """Every routable version with its tenant; safe from a scrape thread (one-step copy)."""
        return [
            (tenant, v)
            for (tenant, _), routes in list(self._routes.items())
            for v in routes.versions.values()
        ]

    def status(self, model_name: str, *, tenant: str = "") -> DeploymentStatus:
        deployment = self._deployments.get((tenant, model_name))
        if deployment is None:
            raise ModelNotFound(model_name)
        return self._status(deployment)

    def statuses(self) -> list[DeploymentStatus]:
        return [self._status(d) for d in self._deployments.values()]

    async def apply(self, spec: DeploymentSpec, *, again: bool = False) -> DeploymentStatus:
        """Make the deployment serve ``spec``; returns the resulting status.

        ``again``: the spec is the one applied last, applied once more to retry the versions that
        failed to load; the deployment keeps its state until the outcome is known.
        """
        key = (spec.tenant, spec.model_name)
        deployment = self._deployments.setdefault(key, _Deployment(spec))
        async with deployment.lock:
            if spec.generation < deployment.spec.generation or self._deployments.get(key) is not deployment:
                return self._status(deployment)  # stale, or removed while waiting
            current = self._routes.get(key)
            if not (again and spec == deployment.spec):
                deployment.spec = spec
                deployment.state = DeploymentState.PENDING
                # Until the new spec is in place, Ready must not keep vouching for the previous one.
                self._set_conditions(deployment, current.versions if current else {}, {}, swapped=False)
                self._report(deployment)
            reusable = {v.config: v for v in current.versions.values()} if current else {}
            failed = {t.version_id: t.unavailable for t in spec.targets if t.unavailable is not None}
            configs = {t.version_id: spec.version_config(t) for t in spec.targets if t.unavailable is None}
            missing = [c for c in configs.values() if c not in reusable]
            # Their artifacts stay protected until the versions are routed (or dropped), not only until
            # loaded: another load of this apply must not evict them meanwhile.
            with self._protecting(c.sha256 for c in missing):
                outcomes = await self._load_all(missing)
                loaded = {c.version: reusable[c] for c in configs.values() if c in reusable}
                for config, outcome in zip(missing, outcomes, strict=True):
                    if isinstance(outcome, ArtifactError):
                        failed[config.version] = outcome
                    else:
                        loaded[config.version] = outcome
                weights = {t.version_id: t.percent for t in spec.targets if t.version_id in loaded}
                swapped = any(weights.values())
                if swapped:
                    self._routes[key] = _Routes(loaded, self._splitter(current, weights))
                    keep = set(loaded.values())
                    retired = [v for v in current.versions.values() if v not in keep] if current else []
                    state = DeploymentState.DEGRADED if failed else DeploymentState.READY
                else:
                    # Nothing with traffic loaded: what served before keeps serving.
                    retired = [o for o in outcomes if isinstance(o, LoadedVersion)]
                    state = DeploymentState.DEGRADED if current else DeploymentState.FAILED
            for version in retired:
                self._retire(deployment, version)
            deployment.state = state
            serving = self._routes.get(key)
            self._set_conditions(deployment, serving.versions if serving else {}, failed, swapped=swapped)
            self._report(deployment)
            return self._status(deployment)

    async def remove(self, model_name: str, *, tenant: str = "") -> None:
        """Stop serving a deployment; returns once its versions have drained and unloaded."""
        deployment = self._deployments.get((tenant, model_name))
        if deployment is None:
            return
        async with deployment.lock:
            del self._deployments[(tenant, model_name)]
            routes = self._routes.pop((tenant, model_name), None)
            self._pin_needed()
            deployment.state = DeploymentState.DELETING
            for version in routes.versions.values() if routes else ():
                self._retire(deployment, version)
            self._report(deployment)
            await asyncio.gather(*(v.closed.wait() for v in list(deployment.draining)))

    async def close(self) -> None:
        """Remove every deployment (shutdown, after the server stopped taking requests)."""
        for tenant, name in list(self._deployments):
            await self.remove(name, tenant=tenant)

    @contextlib.contextmanager
    def _protecting(self, checksums: Iterable[str]) -> Iterator[None]:
        """Count ``checksums`` among :meth:`needed_artifacts` while the block runs."""
        pinned = Counter(sha256.lower() for sha256 in checksums)
        with self._loading_lock:
            self._loading.update(pinned)
        self._pin_needed()
        try:
            yield
        finally:
            with self._loading_lock:
                self._loading.subtract(pinned)
                self._loading = +self._loading  # drops the checksums no load counts any more
            self._pin_needed()  # also after the block changed what is routed

    def _pin_needed(self) -> None:
        """Tell the other processes sharing the artifact cache what this one needs now."""
        self._artifacts.pin(self.needed_artifacts())

    def _splitter(self, current: _Routes | None, weights: dict[str, int]) -> TrafficSplitter:
        """The split for ``weights``: the current one when they are unchanged.

        A fresh splitter starts its cycle over, and the light versions of a split come late in a
        cycle: re-applying the same split (a retry, a version added at 0%, a reload) every few
        requests would starve them.
        """
        if current is not None and current.splitter.weights == {k: w for k, w in weights.items() if w > 0}:
            return current.splitter
        return TrafficSplitter(weights, rng=self._rng)

    async def _load_all(self, configs: Sequence[VersionConfig]) -> list[LoadedVersion | ArtifactError]:
        loads = [asyncio.ensure_future(self._load(c)) for c in configs]
        try:
            return await asyncio.gather(*loads)
        except asyncio.CancelledError:
            # Versions that loaded before the cancellation (a shutdown) are routed nowhere: unless
            # retired here, their sessions and batcher threads would live as long as the process.
            for load in loads:
                loaded = load.result() if load.done() and not load.cancelled() else None
                if isinstance(loaded, LoadedVersion):
                    loaded.retire()
            raise

    async def _load(self, config: VersionConfig) -> LoadedVersion | ArtifactError:
        try:
            async with self._artifacts.opened(config.artifact_uri, config.sha256) as artifact:
                return await load_version(
                    config,
                    artifact,
                    session_factory=self._session_factory,
                    observer=self._observer,
                    budget=self._queue_budget,
                )
        except ArtifactError as error:
            _log.warning(
                "model version failed to load: %s",
                error,
                extra={"model": config.model, "version": config.version, "reason": error.reason},
            )
            return error
        except Exception as error:
            _log.exception(
                "model version failed to load", extra={"model": config.model, "version": config.version}
            )
            return ArtifactError(f"{config.resource} failed to load: {error}")

    def _retire(self, deployment: _Deployment, version: LoadedVersion) -> None:
        deployment.draining.add(version)

        def unloaded(done: LoadedVersion) -> None:
            deployment.draining.discard(done)
            self._report(deployment)

        version.on_closed = unloaded
        version.retire()

    def _set_conditions(
        self,
        deployment: _Deployment,
        loaded: dict[str, LoadedVersion],
        failed: dict[str, ArtifactError],
        *,
        swapped: bool,
    ) -> None:
        state = deployment.state
        ready_reason = {
            DeploymentState.READY: "ALL_VERSIONS_LOADED",
            DeploymentState.FAILED: "NO_VERSION_LOADED",
            DeploymentState.PENDING: "LOADING",
        }.get(state, "SOME_VERSIONS_FAILED" if swapped else "PREVIOUS_VERSIONS_SERVING")
        facts = [Condition("Ready", state == DeploymentState.READY, ready_reason, f"deployment is {state}")]
        for version in loaded.values():
            message = f"{version.instances} instance(s) on {version.device}"
            facts.append(Condition("Loaded", True, "LOADED", message, version.config.resource))
        for target in deployment.spec.targets:
            error = failed.get(target.version_id)
            if error is not None:
                facts.append(Condition("LoadFailed", True, error.reason, error.message, target.version))
        now = datetime.now(UTC)
        previous = deployment.conditions
        deployment.conditions = {}
        for fact in facts:
            before = previous.get((fact.type, fact.version))
            unchanged = before is not None and (before.status, before.reason) == (fact.status, fact.reason)
            since = before.last_transition_time if unchanged and before is not None else now
            deployment.conditions[(fact.type, fact.version)] = Condition(
                fact.type, fact.status, fact.reason, fact.message, fact.version, since
            )

    def _status(self, deployment: _Deployment) -> DeploymentStatus:
        spec = deployment.spec
        routes = self._routes.get((spec.tenant, spec.model_name))
        serving = list(routes.versions.values()) if routes else []
        versions = [
            VersionStatus(
                v.config.resource, v.instances, v.device, v.providers, draining=v in deployment.draining
            )
            for v in [*serving, *(d for d in deployment.draining if d not in serving)]
        ]
        return DeploymentStatus(
            spec.name,
            spec.tenant,
            spec.generation,
            deployment.state,
            tuple(versions),
            tuple(deployment.conditions.values()),
            spec.create_time,
        )

    def _report(self, deployment: _Deployment) -> None:
        if self._on_status is None:
            return
        try:
            self._on_status(self._status(deployment))
        except Exception:
            _log.exception("deployment status callback failed")
