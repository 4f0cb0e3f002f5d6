"""Rows of the ``operations`` table: long-running version imports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.models import errors
from services.models.domain import ImportOperation, OperationError
from services.models.store import versions
from services.models.store.tables import operations


def _operation(session: Session, tenant: str, row: sa.Row[Any]) -> ImportOperation:
    error = (
        None
        if row.error_code is None
        else OperationError(int(row.error_code), row.error_reason or "", row.error_message or "")
    )
    result = None
    if row.done and error is None:
        result = versions.find(session, tenant, row.model_id, int(row.version))
    return ImportOperation(
        model_id=row.model_id,
        operation_id=row.operation_id,
        version=int(row.version),
        source_uri=row.source_uri,
        done=bool(row.done),
        bytes_copied=int(row.bytes_copied),
        start_time=row.start_time,
        end_time=row.end_time,
        error=error,
        result=result,
    )


def _key(tenant: str, model_id: str, operation_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        operations.c.tenant == tenant,
        operations.c.model_id == model_id,
        operations.c.operation_id == operation_id,
    )


def insert(
    session: Session,
    tenant: str,
    operation: ImportOperation,
    expected_size: int | None,
    now: datetime,
    *,
    runner: str,
    lease_expires: datetime,
) -> ImportOperation:
    session.execute(
        sa.insert(operations).values(
            runner=runner,
            lease_expires=lease_expires,
            tenant=tenant,
            model_id=operation.model_id,
            operation_id=operation.operation_id,
            version=operation.version,
            source_uri=operation.source_uri,
            expected_size=expected_size,
            done=False,
            bytes_copied=0,
            start_time=now,
        )
    )
    return get(session, tenant, operation.model_id, operation.operation_id)


def get(session: Session, tenant: str, model_id: str, operation_id: str) -> ImportOperation:
    row = session.execute(sa.select(operations).where(_key(tenant, model_id, operation_id))).one_or_none()
    if row is None:
        raise errors.operation_not_found(model_id, operation_id)
    return _operation(session, tenant, row)


def set_progress(session: Session, tenant: str, model_id: str, operation_id: str, bytes_copied: int) -> None:
    session.execute(
        sa.update(operations).where(_key(tenant, model_id, operation_id)).values(bytes_copied=bytes_copied)
    )


def finish(
    session: Session,
    tenant: str,
    model_id: str,
    operation_id: str,
    now: datetime,
    bytes_copied: int,
    error: OperationError | None,
) -> None:
    """Mark the operation done, with its error when it failed."""
    session.execute(
        sa.update(operations)
        .where(_key(tenant, model_id, operation_id))
        .values(
            done=True,
            end_time=now,
            bytes_copied=bytes_copied,
            error_code=None if error is None else error.code,
            error_reason=None if error is None else error.reason,
            error_message=None if error is None else error.message,
        )
    )


def claim(
    session: Session,
    tenant: str,
    model_id: str,
    operation_id: str,
    *,
    runner: str,
    now: datetime,
    lease_expires: datetime,
) -> bool:
    """Take an unfinished import whose lease ran out (its runner is gone); False when another holds it."""
    taken = session.execute(  # an UPDATE: a cursor result, whose rowcount says whether the row was free
        sa.update(operations)
        .where(
            _key(tenant, model_id, operation_id),
            operations.c.done.is_(False),
            sa.or_(
                operations.c.lease_expires.is_(None),
                operations.c.lease_expires <= now,
                operations.c.runner == runner,
            ),
        )
        .values(runner=runner, lease_expires=lease_expires)
    )
    return bool(cast("sa.CursorResult[Any]", taken).rowcount)


def renew(
    session: Session, keys: Sequence[tuple[str, str, str]], *, runner: str, lease_expires: datetime
) -> None:
    """Extend ``runner``'s leases on the unfinished imports ``keys`` (tenant, model, operation)."""
    for tenant, model_id, operation_id in keys:
        session.execute(
            sa.update(operations)
            .where(
                _key(tenant, model_id, operation_id),
                operations.c.done.is_(False),
                operations.c.runner == runner,
            )
            .values(lease_expires=lease_expires)
        )


def release(session: Session, *, runner: str) -> None:
    """Give up ``runner``'s leases on its unfinished imports (an orderly stop), so they resume at once."""
    session.execute(
        sa.update(operations)
        .where(operations.c.runner == runner, operations.c.done.is_(False))
        .values(lease_expires=None)
    )


def unfinished(session: Session, *, free_at: datetime) -> list[tuple[str, ImportOperation, int | None]]:
    """``(tenant, operation, expected_size)`` of every unfinished import, in any tenant, that no process
    holds at ``free_at`` (its lease was given back or ran out)."""
    rows = session.execute(
        sa.select(operations).where(
            operations.c.done.is_(False),
            sa.or_(operations.c.lease_expires.is_(None), operations.c.lease_expires <= free_at),
        )
    ).all()
    return [(row.tenant, _operation(session, row.tenant, row), row.expected_size) for row in rows]


def delete_all_of_model(session: Session, tenant: str, model_id: str) -> None:
    session.execute(
        sa.delete(operations).where(operations.c.tenant == tenant, operations.c.model_id == model_id)
    )


def delete_for_version(session: Session, tenant: str, model_id: str, version: int) -> None:
    session.execute(
        sa.delete(operations).where(
            operations.c.tenant == tenant, operations.c.model_id == model_id, operations.c.version == version
        )
    )
