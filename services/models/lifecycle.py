"""Bringing the service up and down around its gRPC server.

The server starts first and answers health checks with NOT_SERVING; then
the store is reached and migrated and the artifact storage is reached (each
retried until it answers), the poller that brings other processes' changes
to this one's watchers starts, interrupted imports resume, and only then is
the service SERVING.
Calls that arrive before are UNAVAILABLE, which clients retry.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.exc import OperationalError

from services.models.artifacts import ArtifactStorage
from services.models.core import ModelsCore
from services.models.settings import SERVICE_NAME, ModelsSettings
from services.models.store import open_store
from services.runtime.errors import Unavailable
from services.runtime.server import ServiceServer
from services.runtime.store import Database

_log = logging.getLogger(__name__)


class ModelsApp:
    """The core once it is ready; what the servicers reach it through."""

    def __init__(self, settings: ModelsSettings | None = None, core: ModelsCore | None = None) -> None:
        self._settings = settings
        self._core = core
        self._db: Database | None = None

    def __repr__(self) -> str:
        return f"ModelsApp(ready={self._core is not None})"

    @classmethod
    def ready(cls, core: ModelsCore) -> ModelsApp:
        """An app around an already built core (tests, embedding)."""
        return cls(core=core)

    @property
    def core(self) -> ModelsCore:
        if self._core is None:
            raise Unavailable("the model service is starting", reason="SERVICE_STARTING")
        return self._core

    async def start(self, server: ServiceServer) -> None:
        """Migrate, reach the artifact storage, start the change poller, resume imports, then SERVING."""
        settings = self._settings
        if settings is None:
            raise RuntimeError("ModelsApp.start needs settings")
        self._db = await self._open_store(settings)
        storage = ArtifactStorage(settings.resolved_artifact_url())
        core = ModelsCore.build(
            self._db,
            storage,
            staging_dir=settings.resolved_staging_dir(),
            max_upload_bytes=settings.max_upload_bytes,
            import_uri_prefixes=settings.import_uri_prefixes,
            watch_queue_size=settings.watch_queue_size,
            watch_poll_seconds=settings.watch_poll_seconds,
            report_lifetime=timedelta(seconds=settings.replica_report_lifetime_seconds),
        )
        while True:
            try:
                await core.check_storage()
                break
            except OSError as error:
                _log.warning(
                    "artifact storage %s is not reachable yet: %s",
                    storage.root_uri,
                    error,
                    extra={"event": "storage_unreachable"},
                )
                await asyncio.sleep(settings.storage_retry_seconds)
        # Seeded before any call can write (the core is not reachable yet); stopped by core.close().
        await core.poller.start()
        core.report_expiry.start()
        self._core = core
        resumed = await core.imports.resume()
        core.imports.start_keeping()
        _log.info(
            "ready",
            extra={"event": "ready", "artifact_storage": storage.root_uri, "resumed_imports": resumed},
        )
        await server.set_serving()

    @staticmethod
    async def _open_store(settings: ModelsSettings) -> Database:
        # An unreachable database (PostgreSQL still starting) is waited for; a failing migration is not.
        while True:
            try:
                return await asyncio.to_thread(open_store, settings.resolved_database_url(SERVICE_NAME))
            except OperationalError as error:
                _log.warning(
                    "the store is not reachable yet: %s",
                    str(error.orig or error).splitlines()[0],
                    extra={"event": "store_unreachable"},
                )
                await asyncio.sleep(settings.storage_retry_seconds)

    async def close(self) -> None:
        """End watch streams and background imports, then release the store's connections."""
        await self.end_streams()
        self.dispose()

    async def end_streams(self) -> None:
        """End watch streams and background imports; unary calls in flight keep the store."""
        if self._core is not None:
            await self._core.close()

    def dispose(self) -> None:
        """Release the store's connections (after the event loop has ended, in ``__main__``)."""
        if self._db is not None:
            self._db.dispose()
            self._db = None
