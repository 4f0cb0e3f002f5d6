"""Sweeping the inference replicas' status reports that outlived their lifetime.

A report past its lifetime is dropped when another replica reports; this
sweep, every minute, also catches the deployments no replica reports on any
more, so that they stop showing the state of a service that is gone.  Each
model management process sweeps: the writes are idempotent.
"""

from __future__ import annotations

import asyncio
import logging

from services.models.deployments import Deployments
from services.runtime.tasks import cancel_and_wait

__all__ = ["ReportExpiry"]

_log = logging.getLogger(__name__)

SWEEP_SECONDS = 60.0


class ReportExpiry:
    """Runs :meth:`Deployments.expire_reports` every ``interval`` seconds once started."""

    def __init__(self, deployments: Deployments, interval: float = SWEEP_SECONDS) -> None:
        self._deployments = deployments
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"ReportExpiry(interval={self._interval}, running={self._task is not None})"

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="status-report-expiry")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait([task])

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                changed = await self._deployments.expire_reports()
            except Exception:
                # The store may be unreachable for a while; the next sweep tries again.
                _log.warning(
                    "could not expire status reports", exc_info=True, extra={"event": "report_expiry"}
                )
                continue
            if changed:
                _log.info(
                    "expired inference replicas' status reports",
                    extra={"event": "report_expiry", "deployments": changed},
                )
