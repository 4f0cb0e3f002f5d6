"""Store functions that the core tests do not reach directly: JSON label filters and tenant scoping."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from services.models import filtering
from services.models.domain import AuditEvent, Model
from services.models.enums import AuditAction
from services.models.store import audit, models
from services.models.store.query import SortKey
from services.runtime.errors import InvalidArgument
from services.runtime.store import Database


async def test_label_filters_are_parameters_not_sql(database: Database) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)

    def seed(session: Session) -> None:
        models.insert(session, tenant, Model("quoted", labels={"team": "o'brien"}), now)
        models.insert(session, tenant, Model("plain", labels={"team": "risk"}), now)
        models.insert(session, f"{tenant}-other", Model("plain", labels={"team": "risk"}), now)

    await database.write(seed)
    condition = filtering.parse_filter('labels.team = "o\'brien" OR labels.team = risk', models.FILTER_FIELDS)

    def query(session: Session) -> tuple[list[Model], int, SortKey | None]:
        return models.page(session, tenant, condition, [("name", False)], None, 10)

    found, total, _ = await database.read(query)
    assert [m.model_id for m in found] == ["plain", "quoted"]
    assert total == 2


async def test_pages_continue_after_the_last_item_seen_while_models_come_and_go(database: Database) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    start = datetime(2026, 11, 1, tzinfo=UTC)
    # Two models per creation time: the id breaks the tie.
    seeded = [(f"m{i:02d}", start + timedelta(minutes=i // 2)) for i in range(10)]

    def seed(session: Session) -> None:
        for model_id, created in seeded:
            models.insert(session, tenant, Model(model_id), created)

    await database.write(seed)
    order = models.parse_order("create_time desc")

    async def read(after: SortKey | None) -> tuple[list[str], SortKey | None]:
        found, _, last = await database.read(
            lambda session: models.page(session, tenant, None, order, after, 4)
        )
        return [m.model_id for m in found], last

    first, after = await read(None)
    assert first == ["m08", "m09", "m06", "m07"]

    def churn(session: Session) -> None:
        models.insert(session, tenant, Model("newest"), start + timedelta(hours=1))  # sorts first
        models.delete(session, tenant, "m09")  # already seen

    await database.write(churn)
    second, after = await read(after)
    third, after = await read(after)
    assert second == ["m04", "m05", "m02", "m03"], "nothing repeated, nothing skipped"
    assert third == ["m00", "m01"]
    assert after is None


async def test_audit_pages_stay_put_while_new_events_are_recorded(database: Database) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    start = datetime(2026, 11, 1, tzinfo=UTC)

    def record(count: int, offset: int) -> Callable[[Session], None]:
        def work(session: Session) -> None:
            for i in range(count):
                audit.record(
                    session,
                    tenant,
                    action=AuditAction.ALIAS_SET,
                    resource=f"models/m/aliases/a{offset + i}",
                    actor="ops",
                    time=start + timedelta(seconds=offset + i),
                    before=None,
                    after={"version": offset + i},
                )

        return work

    await database.write(record(6, 0))

    async def read(after: SortKey | None) -> tuple[list[str], SortKey | None]:
        def work(session: Session) -> tuple[list[AuditEvent], SortKey | None]:
            return audit.page(
                session, tenant, resource=None, start_time=None, end_time=None, after=after, limit=3
            )

        events, last = await database.read(work)
        return [e.resource.rsplit("/", 1)[-1] for e in events], last

    newest, after = await read(None)
    await database.write(record(3, 100))  # newer than everything listed so far
    older, after = await read(after)
    assert newest == ["a5", "a4", "a3"]
    assert older == ["a2", "a1", "a0"]
    assert after is None


async def test_a_forged_sort_key_is_invalid_argument(database: Database) -> None:
    order = models.parse_order("create_time desc")
    with pytest.raises(InvalidArgument):
        await database.read(lambda session: models.page(session, "t", None, order, ("not a time", "x"), 4))
    with pytest.raises(InvalidArgument):
        await database.read(lambda session: models.page(session, "t", None, order, (start_of_time(),), 4))


def start_of_time() -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC)
