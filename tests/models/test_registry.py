"""Models through the core: create, read, list with filters and pages, update with masks, delete."""

from __future__ import annotations

import json

import pytest

from services.models.core import ModelsCore
from services.models.domain import Model
from services.models.enums import AuditAction, ModelTask
from services.runtime.auth import Identity, Role, bind_identity
from services.runtime.errors import (
    Aborted,
    AlreadyExists,
    Code,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)

from .helpers import create_model, draft, upload
from .onnx_models import unique_model

pytestmark = pytest.mark.usefixtures("caller")


async def test_create_then_get_returns_the_stored_model(core: ModelsCore) -> None:
    created = await create_model(core, "fraud", display_name="Fraud", labels={"team": "risk"})
    fetched = await core.registry.get_model("models/fraud")
    assert fetched == created
    assert (fetched.display_name, dict(fetched.labels), fetched.latest_version) == (
        "Fraud",
        {"team": "risk"},
        None,
    )
    assert fetched.create_time is not None
    assert fetched.etag


async def test_duplicate_id_is_already_exists(core: ModelsCore) -> None:
    await create_model(core, "fraud")
    with pytest.raises(AlreadyExists):
        await create_model(core, "fraud")


@pytest.mark.parametrize("model_id", ["", "Fraud", "9lives", "a_b", "x" * 64])
async def test_invalid_ids_name_the_field(core: ModelsCore, model_id: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await create_model(core, model_id)
    assert [v.field for v in raised.value.violations] == ["model_id"]


async def test_bad_fields_are_all_reported(core: ModelsCore) -> None:
    model = Model(model_id="", display_name="x" * 129, labels={"Bad Key": "v"})
    with pytest.raises(InvalidArgument) as raised:
        await core.registry.create_model("ok", model)
    fields = {v.field for v in raised.value.violations}
    assert fields == {"model.display_name", "model.labels['Bad Key']"}


async def test_list_filters_on_task_and_labels(core: ModelsCore) -> None:
    await create_model(core, "a", task=ModelTask.CLASSIFICATION, labels={"team": "risk"})
    await create_model(core, "b", task=ModelTask.CLASSIFICATION, labels={"team": "ops"})
    await create_model(core, "c", task=ModelTask.REGRESSION, labels={"team": "risk"})
    await create_model(core, "d", display_name="The D")

    async def ids(filter_text: str) -> list[str]:
        page = await core.registry.list_models(0, "", filter_text, "name")
        return [m.model_id for m in page.items]

    assert await ids('task = MODEL_TASK_CLASSIFICATION AND labels.team = "risk"') == ["a"]
    assert await ids("labels.team = risk OR task = REGRESSION") == ["a", "c"]
    assert await ids('NOT labels.team = "risk"') == ["b", "d"]
    assert await ids("labels.team:*") == ["a", "b", "c"]
    assert await ids('display_name = "The D"') == ["d"]
    assert await ids("") == ["a", "b", "c", "d"]


async def test_pages_cover_every_model_once_with_total(core: ModelsCore) -> None:
    for index in range(5):
        await create_model(core, f"m{index}")
    seen: list[str] = []
    token = ""
    while True:
        page = await core.registry.list_models(2, token, "", "name desc")
        assert page.total_size == 5
        seen += [m.model_id for m in page.items]
        token = page.next_page_token
        if not token:
            break
    assert seen == ["m4", "m3", "m2", "m1", "m0"]


async def test_a_page_token_is_bound_to_its_query(core: ModelsCore) -> None:
    for index in range(3):
        await create_model(core, f"m{index}")
    page = await core.registry.list_models(1, "", "", "name")
    with pytest.raises(InvalidArgument) as raised:
        await core.registry.list_models(1, page.next_page_token, "labels.x = y", "name")
    assert raised.value.violations[0].field == "page_token"
    with pytest.raises(InvalidArgument):
        await core.registry.list_models(1, "garbage!", "", "name")


async def test_list_rejects_unknown_order_fields(core: ModelsCore) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await core.registry.list_models(0, "", "", "sha256 desc")
    assert raised.value.violations[0].field == "order_by"


async def test_list_rejects_a_repeated_order_field(core: ModelsCore) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await core.registry.list_models(0, "", "", "display_name, create_time, display_name desc")
    assert raised.value.reason == "INVALID_ORDER_BY"
    assert [(v.field, v.description) for v in raised.value.violations] == [
        ("order_by", "item 2 repeats 'display_name'")
    ]


async def test_update_changes_only_masked_fields_and_the_etag(core: ModelsCore) -> None:
    created = await create_model(core, "fraud", display_name="Old", labels={"team": "risk", "tier": "1"})
    changes = Model(model_id="", display_name="New", description="ignored", labels={"tier": "2"})
    updated = await core.registry.update_model("models/fraud", changes, ["display_name", "labels.tier"])
    assert updated.display_name == "New"
    assert updated.description == ""
    assert dict(updated.labels) == {"team": "risk", "tier": "2"}
    assert updated.etag != created.etag


@pytest.mark.parametrize(
    ("path", "expected"), [("latest_version_id", "cannot be changed"), ("color", "not a field")]
)
async def test_update_rejects_immutable_and_unknown_paths_by_name(
    core: ModelsCore, path: str, expected: str
) -> None:
    await create_model(core, "fraud")
    with pytest.raises(InvalidArgument) as raised:
        await core.registry.update_model("models/fraud", Model(model_id=""), ["display_name", path])
    violation = raised.value.violations[0]
    assert violation.field == "update_mask.paths[1]"
    assert path in violation.description
    assert expected in violation.description


async def test_update_with_a_stale_etag_is_aborted(core: ModelsCore) -> None:
    created = await create_model(core, "fraud")
    await core.registry.update_model("models/fraud", Model(model_id="", display_name="x"), ["display_name"])
    stale = Model(model_id="", display_name="y", etag=created.etag)
    with pytest.raises(Aborted):
        await core.registry.update_model("models/fraud", stale, ["display_name"])


async def test_delete_removes_the_model_versions_and_artifacts(core: ModelsCore) -> None:
    await create_model(core, "fraud")
    version = await upload(core, data=unique_model())
    assert core.artifacts.storage.keys() == [version.sha256]
    await core.registry.delete_model("models/fraud", force=False, etag="")
    with pytest.raises(NotFound):
        await core.registry.get_model("models/fraud")
    with pytest.raises(NotFound):
        await core.versions.get_version("models/fraud/versions/1")
    assert core.artifacts.storage.keys() == []


async def test_delete_while_deployed_is_refused_unless_forced(core: ModelsCore) -> None:
    await create_model(core, "fraud")
    await upload(core)
    await core.deployments.create_deployment("fraud-live", draft())
    with pytest.raises(FailedPrecondition) as raised:
        await core.registry.delete_model("models/fraud", force=False, etag="")
    assert raised.value.reason == "MODEL_IN_USE"
    assert "deployments/fraud-live" in raised.value.message
    await core.registry.get_model("models/fraud")

    await core.registry.delete_model("models/fraud", force=True, etag="")
    deployment = await core.deployments.get_deployment("deployments/fraud-live")
    assert deployment.spec.traffic == ()
    assert deployment.generation == 2


async def test_a_rollback_after_a_forced_delete_never_reaches_a_recreated_models_versions(
    core: ModelsCore,
) -> None:
    await create_model(core, "fraud")
    await upload(core, data=unique_model())
    await upload(core, data=unique_model())
    await core.deployments.create_deployment("fraud-live", draft())
    await core.deployments.update_deployment("deployments/fraud-live", draft(split=((2, 100),)), ["traffic"])
    await core.registry.delete_model("models/fraud", force=True, etag="")

    await create_model(core, "fraud")
    await upload(core, data=unique_model())
    await upload(core, data=unique_model())
    with pytest.raises(FailedPrecondition) as raised:
        await core.deployments.rollback_deployment("deployments/fraud-live")
    assert raised.value.code == Code.FAILED_PRECONDITION
    assert raised.value.reason == "NO_PREVIOUS_TRAFFIC"
    deployment = await core.deployments.get_deployment("deployments/fraud-live")
    assert deployment.spec.traffic == ()

    # Splits set after the delete are history again, but the empty split before them is not restored:
    # no update could set it, and the deployment would serve nothing.
    await core.deployments.update_deployment("deployments/fraud-live", draft(), ["traffic"])
    with pytest.raises(FailedPrecondition) as empty:
        await core.deployments.rollback_deployment("deployments/fraud-live")
    assert empty.value.reason == "NO_PREVIOUS_TRAFFIC"
    assert (await core.deployments.get_deployment("deployments/fraud-live")).spec.traffic != ()


async def test_a_forced_delete_audits_the_splits_it_empties(core: ModelsCore) -> None:
    await create_model(core, "fraud")
    await create_model(core, "other")
    await upload(core)
    await upload(core, "other")
    await core.deployments.create_deployment("fraud-live", draft())
    await core.deployments.create_deployment("other-live", draft("other"))

    await core.registry.delete_model("models/fraud", force=True, etag="")

    events = (await core.feeds.list_audit_events(0, "", resource="", start_time=None, end_time=None)).items
    # Newest first; the other model's deployment is untouched.
    assert [(e.action, e.resource, e.actor) for e in events] == [
        (AuditAction.TRAFFIC_CHANGED, "deployments/fraud-live", "alice"),
        (AuditAction.DEPLOYMENT_CREATED, "deployments/other-live", "alice"),
        (AuditAction.DEPLOYMENT_CREATED, "deployments/fraud-live", "alice"),
    ]
    assert json.loads(events[0].before_json) == {
        "traffic": [{"version": "models/fraud/versions/1", "percent": 100}]
    }
    assert json.loads(events[0].after_json) == {"traffic": []}


async def test_another_tenants_model_is_not_found(core: ModelsCore, tenant: str) -> None:
    await create_model(core, "fraud")
    other = Identity(subject="bob", tenant=f"{tenant}-other", roles=frozenset({Role.ADMIN}))
    with bind_identity(other):
        with pytest.raises(NotFound):
            await core.registry.get_model("models/fraud")
        with pytest.raises(NotFound):
            await core.registry.delete_model("models/fraud", force=True, etag="")
        assert (await core.registry.list_models(0, "", "", "")).items == ()
        # The same id is free in another tenant.
        await create_model(core, "fraud")
