"""The two ways to follow deployments over time: the watch stream and the audit log."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

from sqlalchemy.orm import Session

from services.models import errors, names, paging
from services.models.domain import AuditEvent, Page, WatchEvent
from services.models.enums import WatchEventType
from services.models.store import audit, deployments
from services.models.store.query import SortKey
from services.models.watch import WatchHub, marker
from services.runtime.auth import Role, current_identity
from services.runtime.errors import InvalidArgument, PermissionDenied
from services.runtime.store import Database


class Feeds:
    """WatchDeployments and ListAuditEvents."""

    def __init__(self, db: Database, hub: WatchHub) -> None:
        self._db = db
        self._hub = hub

    def __repr__(self) -> str:
        return f"Feeds({self._db!r}, {self._hub!r})"

    async def watch(self, *, all_tenants: bool) -> AsyncGenerator[WatchEvent, None]:
        """Every deployment as EXISTING, then SYNCED, then each committed change as it happens.

        The subscription starts before the snapshot is read, so no change
        falls between the two; a change the snapshot already contains is not
        sent again.  Once a poller has seeded the hub, the snapshot keeps only
        the deployments the hub knows: one written by another process that
        the poller has not seen yet comes as CREATED when it does, and if it
        is deleted first, never comes (were it sent, its deletion could not be).
        """
        identity = current_identity()
        if all_tenants and not identity.has_role(Role.ADMIN):
            raise PermissionDenied("watching every tenant needs the admin role", reason=errors.ADMIN_REQUIRED)
        scope = None if all_tenants else identity.tenant
        subscription = self._hub.subscribe(scope)
        try:
            snapshot = await self._db.read(lambda session: deployments.everything(session, scope))
            if self._hub.seeded:
                snapshot = [
                    (tenant, d)
                    for tenant, d in snapshot
                    if self._hub.knows((tenant, d.deployment_id), d.create_time)
                ]
            seen = {(tenant, d.deployment_id): marker(d) for tenant, d in snapshot}
            for tenant, deployment in snapshot:
                yield WatchEvent(WatchEventType.EXISTING, tenant, deployment.deployment_id, deployment)
            yield WatchEvent(WatchEventType.SYNCED, scope or "")
            async for event in subscription:
                key = (event.tenant, event.deployment_id)
                if event.type == WatchEventType.DELETED:
                    seen.pop(key, None)
                elif event.deployment is not None and key in seen and marker(event.deployment) <= seen[key]:
                    continue
                yield event
        finally:
            subscription.close()

    async def list_audit_events(
        self,
        page_size: int,
        page_token: str,
        *,
        resource: str,
        start_time: datetime | None,
        end_time: datetime | None,
    ) -> Page[AuditEvent]:
        """The tenant's recorded changes, newest first, optionally about one resource and in a time range."""
        if resource:
            names.parse_resource_filter(resource, "resource")
        if start_time is not None and end_time is not None and end_time <= start_time:
            raise InvalidArgument.for_field("end_time", "must be after start_time")
        window = (
            "" if start_time is None else start_time.isoformat(),
            "" if end_time is None else end_time.isoformat(),
        )
        request = paging.page_request(page_size, page_token, "audit", resource, *window)
        tenant = current_identity().tenant

        def work(session: Session) -> tuple[list[AuditEvent], SortKey | None]:
            return audit.page(
                session,
                tenant,
                resource=resource or None,
                start_time=start_time,
                end_time=end_time,
                after=request.after,
                limit=request.size,
            )

        items, last = await self._db.read(work)
        return Page(tuple(items), request.next_token(last))
