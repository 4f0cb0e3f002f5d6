"""The service's core, assembled: every use-case object over one store and one artifact storage."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from services.models.aliases import Aliases
from services.models.artifact_refs import ArtifactReferences
from services.models.artifacts import ArtifactStorage
from services.models.change_poller import ChangePoller
from services.models.clock import Clock, utcnow
from services.models.deployments import Deployments
from services.models.feeds import Feeds
from services.models.imports import LEASE_SECONDS, Imports
from services.models.model_versions import ModelVersions
from services.models.registry import Registry
from services.models.report_expiry import ReportExpiry
from services.models.status import REPORT_LIFETIME
from services.models.uploads import Uploads
from services.models.watch import WatchHub
from services.runtime.store import Database


@dataclass(frozen=True)
class ModelsCore:
    """What the servicers call; built once per process by :meth:`build`."""

    registry: Registry
    versions: ModelVersions
    aliases: Aliases
    uploads: Uploads
    imports: Imports
    deployments: Deployments
    feeds: Feeds
    hub: WatchHub
    poller: ChangePoller
    """Brings changes written by other processes to ``hub``; runs once started (by the app, not by tests)."""
    report_expiry: ReportExpiry
    """Drops status reports past their lifetime every minute; runs once started (by the app)."""
    artifacts: ArtifactReferences

    @classmethod
    def build(
        cls,
        db: Database,
        storage: ArtifactStorage,
        *,
        staging_dir: Path,
        max_upload_bytes: int,
        import_uri_prefixes: Sequence[str] = (),
        watch_queue_size: int = 1024,
        watch_poll_seconds: float = 0.5,
        import_lease_seconds: float = LEASE_SECONDS,
        report_lifetime: timedelta = REPORT_LIFETIME,
        clock: Clock = utcnow,
    ) -> ModelsCore:
        hub = WatchHub(watch_queue_size)
        deployments = Deployments(db, hub, clock, report_lifetime)
        artifacts = ArtifactReferences(db, storage)
        return cls(
            registry=Registry(db, artifacts, hub, clock),
            versions=ModelVersions(db, artifacts, hub, clock),
            aliases=Aliases(db, clock),
            uploads=Uploads(db, artifacts, staging_dir=staging_dir, max_bytes=max_upload_bytes, clock=clock),
            imports=Imports(
                db,
                artifacts,
                staging_dir=staging_dir,
                max_bytes=max_upload_bytes,
                allowed_prefixes=import_uri_prefixes,
                clock=clock,
                lease_seconds=import_lease_seconds,
            ),
            deployments=deployments,
            feeds=Feeds(db, hub),
            hub=hub,
            poller=ChangePoller(db, hub, watch_poll_seconds),
            report_expiry=ReportExpiry(deployments),
            artifacts=artifacts,
        )

    async def check_storage(self) -> None:
        """Prove the artifact storage is reachable and writable (OSError when it is not)."""
        await asyncio.to_thread(self.artifacts.storage.check)

    async def close(self) -> None:
        """Stop polling, end watch streams and stop background imports (they resume on the next start)."""
        await self.poller.stop()
        await self.report_expiry.stop()
        self.hub.close()
        await self.imports.close()
