"""Rows of the ``models`` table.

Functions take the session of the caller's transaction, so that a core
operation composes several of them atomically.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.models import errors, filtering, names
from services.models.domain import Model
from services.models.enums import ModelTask
from services.models.store import query
from services.models.store.tables import models
from services.models.validation import shown
from services.runtime.errors import AlreadyExists, InvalidArgument

FILTER_FIELDS = {
    "display_name": filtering.FieldSpec("text"),
    "task": filtering.FieldSpec("enum", ModelTask, "MODEL_TASK_"),
    "labels": filtering.FieldSpec("labels"),
}
ORDER_FIELDS = {
    "name": models.c.model_id,
    "display_name": models.c.display_name,
    "create_time": models.c.create_time,
    "update_time": models.c.update_time,
}
_FILTER_COLUMNS = {
    "display_name": models.c.display_name,
    "task": models.c.task,
    "labels": models.c.labels,
}


def _etag(model_id: str, revision: int, create_time: datetime) -> str:
    # The creation time makes a re-created model's etags differ from its predecessor's.
    seed = f"{model_id}\x1f{revision}\x1f{create_time.isoformat()}"
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def _model(row: sa.Row[Any]) -> Model:
    return Model(
        model_id=row.model_id,
        display_name=row.display_name,
        description=row.description,
        labels=dict(row.labels),
        task=ModelTask(row.task),
        latest_version=row.latest_version,
        create_time=row.create_time,
        update_time=row.update_time,
        etag=_etag(row.model_id, row.revision, row.create_time),
    )


def _key(tenant: str, model_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(models.c.tenant == tenant, models.c.model_id == model_id)


def find(session: Session, tenant: str, model_id: str, *, lock: bool = False) -> Model | None:
    """The model, or None; ``lock`` holds its row until the transaction ends (PostgreSQL)."""
    statement = sa.select(models).where(_key(tenant, model_id))
    if lock:
        statement = statement.with_for_update()
    row = session.execute(statement).one_or_none()
    return None if row is None else _model(row)


def find_shared(session: Session, tenant: str, model_id: str) -> Model | None:
    """The model, or None; its row share-locked until the transaction ends (PostgreSQL).

    Deployment changes hold it so that version changes, which lock the row exclusively,
    never interleave with a change of traffic to the same model.
    """
    row = session.execute(sa.select(models).where(_key(tenant, model_id)).with_for_update(read=True))
    found = row.one_or_none()
    return None if found is None else _model(found)


def get(session: Session, tenant: str, model_id: str, *, lock: bool = False) -> Model:
    """The model; NOT_FOUND when the tenant has none of that id."""
    model = find(session, tenant, model_id, lock=lock)
    if model is None:
        raise errors.model_not_found(model_id)
    return model


def insert(session: Session, tenant: str, model: Model, now: datetime) -> Model:
    """Store a new model; ALREADY_EXISTS when the id is taken in the tenant."""
    exists = AlreadyExists(
        f"{names.model_name(model.model_id)} already exists",
        reason="MODEL_ALREADY_EXISTS",
        metadata={"resource": names.model_name(model.model_id)},
    )
    if find(session, tenant, model.model_id) is not None:
        raise exists
    try:
        session.execute(
            sa.insert(models).values(
                tenant=tenant,
                model_id=model.model_id,
                display_name=model.display_name,
                description=model.description,
                labels=dict(model.labels),
                task=model.task.value,
                next_version=1,
                latest_version=None,
                revision=1,
                create_time=now,
                update_time=now,
            )
        )
    except IntegrityError as error:
        # A concurrent create of the same id won the race after our check.
        raise exists from error
    return get(session, tenant, model.model_id)


def update(session: Session, tenant: str, model_id: str, values: Mapping[str, Any], now: datetime) -> Model:
    """Change the given columns (``display_name``, ``description``, ``labels``, ``task``, and
    ``latest_version`` once the newest version is deleted) as a new revision."""
    changes = {key: value.value if isinstance(value, ModelTask) else value for key, value in values.items()}
    session.execute(
        sa.update(models)
        .where(_key(tenant, model_id))
        .values(**changes, revision=models.c.revision + 1, update_time=now)
    )
    return get(session, tenant, model_id)


def allocate_version(session: Session, tenant: str, model_id: str, now: datetime) -> int:
    """The next version number of the model, which becomes its latest; holds the model row locked."""
    row = session.execute(
        sa.select(models.c.next_version).where(_key(tenant, model_id)).with_for_update()
    ).one_or_none()
    if row is None:
        raise errors.model_not_found(model_id)
    number = int(row.next_version)
    session.execute(
        sa.update(models)
        .where(_key(tenant, model_id))
        .values(
            next_version=number + 1, latest_version=number, revision=models.c.revision + 1, update_time=now
        )
    )
    return number


def delete(session: Session, tenant: str, model_id: str) -> None:
    session.execute(sa.delete(models).where(_key(tenant, model_id)))


def parse_order(order_by: str) -> list[tuple[str, bool]]:
    """``(field, descending)`` pairs of an ``order_by`` such as ``display_name, create_time desc``."""
    fields: list[tuple[str, bool]] = []
    for index, part in enumerate(order_by.split(",")):
        words = part.split()
        if not words and not order_by.strip():
            break
        if (
            len(words) not in (1, 2)
            or words[0] not in ORDER_FIELDS
            or words[1:] not in ([], ["desc"], ["asc"])
        ):
            raise InvalidArgument.for_field(
                "order_by",
                f"item {index} ({shown(part.strip())}) must be one of {', '.join(ORDER_FIELDS)}, optionally "
                "followed by 'desc'",
                reason="INVALID_ORDER_BY",
            )
        if any(field == words[0] for field, _ in fields):
            # A repeat changes nothing but would make every page token carry the column again.
            raise InvalidArgument.for_field(
                "order_by", f"item {index} repeats {shown(words[0])}", reason="INVALID_ORDER_BY"
            )
        fields.append((words[0], words[1:] == ["desc"]))
    return fields or [("create_time", True)]


def page(
    session: Session,
    tenant: str,
    condition: filtering.Node | None,
    order: Sequence[tuple[str, bool]],
    after: query.SortKey | None,
    limit: int,
) -> tuple[list[Model], int, query.SortKey | None]:
    """One page of the tenant's models matching the filter, in ``order`` (ties broken by id), the number
    of models matching it over all pages, and where the next page starts."""
    matching = sa.and_(models.c.tenant == tenant, query.where(condition, _FILTER_COLUMNS))
    order_columns = [(ORDER_FIELDS[field], descending) for field, descending in order]
    rows, last = query.page(
        session, models, matching, [*order_columns, (models.c.model_id, False)], after, limit
    )
    return [_model(row) for row in rows], query.count(session, models, matching), last
