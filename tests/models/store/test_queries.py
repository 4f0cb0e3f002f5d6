"""Store functions that the core tests do not reach directly: JSON label filters and tenant scoping."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from services.models import filtering
from services.models.domain import Model
from services.models.store import models
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

    def query(session: Session) -> tuple[list[Model], int]:
        return models.page(session, tenant, condition, [("name", False)], 0, 10)

    found, total = await database.read(query)
    assert [m.model_id for m in found] == ["plain", "quoted"]
    assert total == 2
