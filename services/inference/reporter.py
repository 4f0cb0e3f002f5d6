"""Reporting what this server has loaded back to model management (``ReportDeploymentStatus``).

The repository announces every status change synchronously; the reporter
keeps only the latest status per deployment and sends it from its own task,
so a slow or unreachable model management never holds up serving.  Failed
reports are retried with backoff; after the watch reconnects everything is
reported again, since reports may have been lost meanwhile.  A report model
management refuses for good (the deployment is gone, or the generation is not
its own), or that cannot be sent at all, is dropped and its status forgotten
until the deployment's next change.

Every status kept is reported again every ``refresh_seconds``
(``AIPLAT_INFERENCE_STATUS_REFRESH_SECONDS``, a minute by default), changed
or not: model management stops counting a replica whose reports are no
longer renewed (see ``ReportDeploymentStatus``).

A deployment being removed is not reported (model management deleted it),
unless it was unloaded on request: then it is reported as not ready, with
reason ``UNLOADED``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import grpc

from services.inference.convert_deployments import report_request
from services.inference.deployment import Condition, DeploymentState, DeploymentStatus
from services.inference.follower import ModelsClient
from services.runtime.errors import Unavailable
from services.runtime.tasks import wait_set

__all__ = ["StatusReporter"]

_log = logging.getLogger(__name__)

_CALL_SECONDS = 10.0
# Answers after which a report is dropped rather than retried: the deployment or generation is gone.
_DROP = frozenset({grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT})


class StatusReporter:
    """Sends the latest status of each deployment; see the module docstring."""

    def __init__(
        self,
        client: ModelsClient,
        *,
        unloaded: Callable[[str, str], bool],
        name: str = "",
        min_delay: float = 0.5,
        max_delay: float = 30.0,
        refresh_seconds: float,
    ) -> None:
        self._client = client
        self.name = name
        """Who reports (``reporter`` of each report): this server's host and port."""
        self._unloaded = unloaded
        self._delays = (min_delay, max_delay)
        self._refresh_seconds = refresh_seconds
        self._latest: dict[tuple[str, str], DeploymentStatus] = {}
        self._pending: dict[tuple[str, str], None] = {}  # ordered set
        self._wake = asyncio.Event()
        self.sent = 0
        """Reports model management accepted."""

    def __repr__(self) -> str:
        return (
            f"StatusReporter(name={self.name!r}, tracked={self.tracked}, pending={len(self._pending)}, "
            f"sent={self.sent})"
        )

    @property
    def tracked(self) -> int:
        """Deployments whose latest status is kept, to be reported again after a reconnect."""
        return len(self._latest)

    def submit(self, status: DeploymentStatus) -> None:
        """Report ``status`` soon; the repository's ``on_status`` callback (never blocks)."""
        key = (status.tenant, status.name.rsplit("/", 1)[-1])
        if status.state == DeploymentState.DELETING:
            if not self._unloaded(*key):
                self._latest.pop(key, None)
                self._pending.pop(key, None)
                return
            status = _unloaded(status)
        self._latest[key] = status
        self._pending[key] = None
        self._wake.set()

    def resend_all(self) -> None:
        """Report every known status again (after reconnecting)."""
        self._pending.update(dict.fromkeys(self._latest))
        self._wake.set()

    async def run(self) -> None:
        """Send pending reports until cancelled."""
        delay = self._delays[0]
        loop = asyncio.get_running_loop()
        next_refresh = loop.time() + self._refresh_seconds
        while True:
            await wait_set(self._wake, next_refresh - loop.time())
            if loop.time() >= next_refresh:
                self.resend_all()
                next_refresh = loop.time() + self._refresh_seconds
            self._wake.clear()
            while self._pending:
                key = next(iter(self._pending))
                del self._pending[key]
                status = self._latest.get(key)
                if status is None:
                    continue
                try:
                    recorded = await self._send(status)
                except (grpc.aio.AioRpcError, Unavailable) as error:
                    self._pending.setdefault(key, None)
                    detail = error.code().name if isinstance(error, grpc.aio.AioRpcError) else error.reason
                    _log.warning(
                        "cannot report the status of %s yet: %s",
                        status.name,
                        detail,
                        extra={"tenant": status.tenant, "retry_in": delay},
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._delays[1])
                except Exception:
                    # Sending it again would fail again; ending this task would stop every later report.
                    _log.exception(
                        "cannot report the status of %s", status.name, extra={"tenant": status.tenant}
                    )
                    self._forget(key, status)
                else:
                    delay = self._delays[0]
                    if not recorded:
                        self._forget(key, status)

    def _forget(self, key: tuple[str, str], status: DeploymentStatus) -> None:
        """Stop keeping ``status`` (refused for good), unless a newer one replaced it meanwhile."""
        if self._latest.get(key) is status:
            del self._latest[key]

    async def _send(self, status: DeploymentStatus) -> bool:
        """Whether model management recorded the report; False when it refused it for good."""
        try:
            await self._client.deployments().ReportDeploymentStatus(
                report_request(status, self.name),
                metadata=self._client.metadata(),
                timeout=_CALL_SECONDS,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() not in _DROP:
                raise
            _log.info(
                "status of %s not recorded: %s",
                status.name,
                error.details(),
                extra={"tenant": status.tenant, "code": error.code().name},
            )
            return False
        self.sent += 1
        return True


def _unloaded(status: DeploymentStatus) -> DeploymentStatus:
    reason = "unloaded on request (RepositoryModelUnload) until its spec changes or it is loaded again"
    return DeploymentStatus(
        status.name,
        status.tenant,
        status.generation,
        DeploymentState.PENDING,
        (),
        (Condition("Ready", False, "UNLOADED", reason),),
        status.create_time,
    )
