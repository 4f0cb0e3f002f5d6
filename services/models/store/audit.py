"""Rows of the ``audit_events`` table.

Events are written by the same transaction as the change they describe, so
the history has exactly the changes that were committed.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.models.domain import AuditEvent
from services.models.enums import AuditAction
from services.models.store import query
from services.models.store.tables import audit_events


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def record(
    session: Session,
    tenant: str,
    *,
    action: AuditAction,
    resource: str,
    actor: str,
    time: datetime,
    before: Any,
    after: Any,
) -> None:
    """Append an event; ``before`` and ``after`` are JSON-serialisable (None becomes ``null``)."""
    session.execute(
        sa.insert(audit_events).values(
            tenant=tenant,
            action=action.value,
            resource=resource,
            actor=actor,
            time=time,
            before_json=_json(before),
            after_json=_json(after),
        )
    )


def page(
    session: Session,
    tenant: str,
    *,
    resource: str | None,
    start_time: datetime | None,
    end_time: datetime | None,
    after: query.SortKey | None,
    limit: int,
) -> tuple[list[AuditEvent], query.SortKey | None]:
    """One page of the tenant's events, newest first (by time, then by insertion order)."""
    condition = audit_events.c.tenant == tenant
    if resource is not None:
        condition = sa.and_(condition, audit_events.c.resource == resource)
    if start_time is not None:
        condition = sa.and_(condition, audit_events.c.time >= start_time)
    if end_time is not None:
        condition = sa.and_(condition, audit_events.c.time < end_time)
    rows, last = query.page(
        session,
        audit_events,
        condition,
        [(audit_events.c.time, True), (audit_events.c.event_id, True)],
        after,
        limit,
    )
    events = [
        AuditEvent(
            event_id=int(row.event_id),
            action=AuditAction(row.action),
            resource=row.resource,
            actor=row.actor,
            time=row.time,
            before_json=row.before_json,
            after_json=row.after_json,
        )
        for row in rows
    ]
    return events, last
