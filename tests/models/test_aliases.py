"""Aliases: set, move, read, list and delete, each change in the audit log."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable

import pytest

from services.models.aliases import Aliases
from services.models.clock import Clock
from services.models.core import ModelsCore
from services.models.domain import ModelVersion
from services.models.enums import AuditAction, VersionState
from services.models.store import models as model_rows
from services.runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from services.runtime.store import Database

from .helpers import clock_readings_while_locked, create_model, upload
from .onnx_models import tiny_model

pytestmark = pytest.mark.usefixtures("caller")


async def test_set_move_and_delete_are_audited(core: ModelsCore) -> None:
    await create_model(core)
    await upload(core)
    await upload(core, data=tiny_model(seed=1))
    name = "models/fraud/aliases/production"
    alias = await core.aliases.set_alias(name, "models/fraud/versions/1")
    assert (alias.version, alias.updater) == (1, "alice")
    await core.aliases.set_alias(name, "models/fraud/versions/2")
    assert (await core.aliases.get_alias(name)).version == 2
    await core.aliases.delete_alias(name)
    with pytest.raises(NotFound):
        await core.aliases.get_alias(name)

    events = (await core.feeds.list_audit_events(0, "", resource=name, start_time=None, end_time=None)).items
    assert [e.action for e in events] == [
        AuditAction.ALIAS_DELETED,
        AuditAction.ALIAS_SET,
        AuditAction.ALIAS_SET,
    ]
    assert {e.actor for e in events} == {"alice"}
    moved = events[1]
    assert json.loads(moved.before_json) == {"version": "models/fraud/versions/1"}
    assert json.loads(moved.after_json) == {"version": "models/fraud/versions/2"}
    assert json.loads(events[2].before_json) is None
    assert json.loads(events[0].after_json) is None


async def test_an_alias_may_name_another_alias(core: ModelsCore) -> None:
    await create_model(core)
    await upload(core)
    await core.aliases.set_alias("models/fraud/aliases/staging", "models/fraud/versions/1")
    promoted = await core.aliases.set_alias(
        "models/fraud/aliases/production", "models/fraud/versions/staging"
    )
    assert promoted.version == 1
    page = await core.aliases.list_aliases("models/fraud", 0, "")
    assert [a.alias for a in page.items] == ["production", "staging"]


async def test_aliases_point_at_ready_versions_of_the_same_model(core: ModelsCore) -> None:
    await create_model(core)
    await create_model(core, "other")
    await upload(core)
    with pytest.raises(InvalidArgument) as raised:
        await core.aliases.set_alias("models/fraud/aliases/prod", "models/other/versions/1")
    assert raised.value.violations[0].field == "alias.version"
    await core.versions.update_version(
        "models/fraud/versions/1", ModelVersion("", 0, state=VersionState.ARCHIVED), ["state"]
    )
    with pytest.raises(FailedPrecondition) as refused:
        await core.aliases.set_alias("models/fraud/aliases/prod", "models/fraud/versions/1")
    assert refused.value.reason == "MODEL_VERSION_NOT_READY"


async def test_deleting_a_version_removes_its_aliases_with_an_audit_event(core: ModelsCore) -> None:
    await create_model(core)
    await upload(core)
    await core.aliases.set_alias("models/fraud/aliases/prod", "models/fraud/versions/1")
    await core.versions.delete_version("models/fraud/versions/1", force=False)
    assert (await core.aliases.list_aliases("models/fraud", 0, "")).items == ()
    events = (await core.feeds.list_audit_events(0, "", resource="", start_time=None, end_time=None)).items
    assert events[0].action == AuditAction.ALIAS_DELETED
    assert events[0].resource == "models/fraud/aliases/prod"


async def test_an_alias_move_that_waited_for_the_model_lock_records_the_time_after_it(
    core: ModelsCore, database: Database, tenant: str
) -> None:
    await create_model(core)
    await upload(core)

    def change(clock: Clock) -> Awaitable[object]:
        return Aliases(database, clock).set_alias(
            "models/fraud/aliases/production", "models/fraud/versions/1"
        )

    lock = functools.partial(model_rows.get, tenant=tenant, model_id="fraud", lock=True)
    assert await clock_readings_while_locked(database, lock, change) == [True]
