"""Versions through the core: by number or alias, listing, archiving, deleting."""

from __future__ import annotations

import json

import pytest

from services.models.core import ModelsCore
from services.models.domain import ModelVersion
from services.models.enums import AuditAction, VersionState
from services.runtime.auth import Identity, Role, bind_identity
from services.runtime.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied

from .helpers import create_model, draft, upload
from .onnx_models import tiny_model

pytestmark = pytest.mark.usefixtures("caller")


async def test_get_by_number_or_alias(core: ModelsCore) -> None:
    await create_model(core)
    await upload(core)
    second = await upload(core, data=tiny_model(seed=1))
    await core.aliases.set_alias("models/fraud/aliases/production", "models/fraud/versions/2")
    by_alias = await core.versions.get_version("models/fraud/versions/production")
    assert by_alias.version == 2
    assert by_alias.aliases == ("production",)
    assert (await core.versions.get_version("models/fraud/versions/2")).sha256 == second.sha256
    with pytest.raises(NotFound):
        await core.versions.get_version("models/fraud/versions/staging")
    with pytest.raises(NotFound):
        await core.versions.get_version("models/fraud/versions/3")
    with pytest.raises(InvalidArgument):
        await core.versions.get_version("models/fraud/versions/01")


async def test_list_is_newest_first_and_filters_on_state(core: ModelsCore) -> None:
    await create_model(core)
    for seed in range(3):
        await upload(core, data=tiny_model(seed=seed))
    await core.versions.update_version(
        "models/fraud/versions/2", ModelVersion("", 0, state=VersionState.ARCHIVED), ["state"]
    )
    page = await core.versions.list_versions("models/fraud", 2, "", "")
    assert [v.version for v in page.items] == [3, 2]
    assert page.next_page_token
    rest = await core.versions.list_versions("models/fraud", 2, page.next_page_token, "")
    assert [v.version for v in rest.items] == [1]
    assert not rest.next_page_token
    ready = await core.versions.list_versions("models/fraud", 0, "", "state = MODEL_VERSION_STATE_READY")
    assert [v.version for v in ready.items] == [3, 1]
    with pytest.raises(InvalidArgument) as raised:
        await core.versions.list_versions("models/fraud", 0, "", "sha256 = x")
    assert raised.value.violations[0].field == "filter"


async def test_update_changes_description_metrics_and_labels(core: ModelsCore) -> None:
    await create_model(core)
    await upload(core)
    changes = ModelVersion("", 0, description="better", metrics={"auc": 0.91}, labels={"stage": "qa"})
    updated = await core.versions.update_version(
        "models/fraud/versions/1", changes, ["description", "metrics", "labels"]
    )
    assert (updated.description, dict(updated.metrics), dict(updated.labels)) == (
        "better",
        {"auc": 0.91},
        {"stage": "qa"},
    )


async def test_update_rejects_immutable_fields_and_other_states(core: ModelsCore) -> None:
    await create_model(core)
    await upload(core)
    with pytest.raises(InvalidArgument) as raised:
        await core.versions.update_version("models/fraud/versions/1", ModelVersion("", 0), ["sha256"])
    assert raised.value.violations[0].field == "update_mask.paths[0]"
    with pytest.raises(InvalidArgument):
        await core.versions.update_version(
            "models/fraud/versions/1", ModelVersion("", 0, state=VersionState.FAILED), ["state"]
        )
    with pytest.raises(InvalidArgument):
        await core.versions.update_version(
            "models/fraud/versions/1", ModelVersion("", 0, metrics={"auc": float("nan")}), ["metrics"]
        )


async def test_delete_in_use_is_refused_unless_forced(core: ModelsCore) -> None:
    await create_model(core)
    await upload(core)
    await upload(core, data=tiny_model(seed=1))
    await core.deployments.create_deployment("live", draft(split=((1, 50), (2, 50))))
    with pytest.raises(FailedPrecondition) as raised:
        await core.versions.delete_version("models/fraud/versions/1", force=False)
    assert raised.value.reason == "MODEL_VERSION_IN_USE"
    assert raised.value.metadata["deployments"] == "deployments/live"

    await core.versions.delete_version("models/fraud/versions/1", force=True)
    deployment = await core.deployments.get_deployment("deployments/live")
    assert [t.version for t in deployment.spec.traffic] == [2]
    with pytest.raises(NotFound):
        await core.versions.get_version("models/fraud/versions/1")


_ARCHIVED = ModelVersion("", 0, state=VersionState.ARCHIVED)


async def test_archiving_is_refused_while_a_deployment_or_an_alias_points_at_the_version(
    core: ModelsCore,
) -> None:
    await create_model(core)
    await upload(core)
    await upload(core, data=tiny_model(seed=1))
    await core.aliases.set_alias("models/fraud/aliases/production", "models/fraud/versions/2")
    await core.deployments.create_deployment("live", draft(split=((1, 50), (2, 50))))

    with pytest.raises(FailedPrecondition) as deployed:
        await core.versions.update_version("models/fraud/versions/1", _ARCHIVED, ["state"])
    assert deployed.value.reason == "MODEL_VERSION_IN_USE"
    assert deployed.value.metadata["deployments"] == "deployments/live"
    await core.deployments.update_deployment("deployments/live", draft(split=((2, 100),)), ["traffic"])
    archived = await core.versions.update_version("models/fraud/versions/1", _ARCHIVED, ["state"])
    assert archived.state == VersionState.ARCHIVED

    await core.deployments.delete_deployment("deployments/live", etag="")
    with pytest.raises(FailedPrecondition) as aliased:
        await core.versions.update_version("models/fraud/versions/2", _ARCHIVED, ["state"])
    assert aliased.value.reason == "MODEL_VERSION_ALIASED"
    assert aliased.value.metadata["aliases"] == "models/fraud/aliases/production"
    assert (await core.versions.get_version("models/fraud/versions/2")).state == VersionState.READY
    await core.aliases.delete_alias("models/fraud/aliases/production")
    archived = await core.versions.update_version("models/fraud/versions/2", _ARCHIVED, ["state"])
    assert archived.state == VersionState.ARCHIVED


async def test_a_forced_delete_audits_every_split_it_changes(core: ModelsCore) -> None:
    await create_model(core)
    await upload(core)
    await upload(core, data=tiny_model(seed=1))
    await core.aliases.set_alias("models/fraud/aliases/production", "models/fraud/versions/1")
    await core.deployments.create_deployment("live", draft(split=((1, 50), (2, 50))))
    await core.deployments.create_deployment("canary", draft(split=((2, 100),)))
    with pytest.raises(FailedPrecondition):
        await core.versions.delete_version("models/fraud/versions/1", force=False)

    await core.versions.delete_version("models/fraud/versions/1", force=True)

    events = (await core.feeds.list_audit_events(0, "", resource="", start_time=None, end_time=None)).items
    # Newest first; the refused delete recorded nothing, and "canary" (no version 1) is untouched.
    assert [(e.action, e.resource) for e in events] == [
        (AuditAction.ALIAS_DELETED, "models/fraud/aliases/production"),
        (AuditAction.TRAFFIC_CHANGED, "deployments/live"),
        (AuditAction.DEPLOYMENT_CREATED, "deployments/canary"),
        (AuditAction.DEPLOYMENT_CREATED, "deployments/live"),
        (AuditAction.ALIAS_SET, "models/fraud/aliases/production"),
    ]
    detached = events[1]
    assert detached.actor == "alice"
    assert json.loads(detached.before_json) == {
        "traffic": [
            {"version": "models/fraud/versions/1", "percent": 50},
            {"version": "models/fraud/versions/2", "percent": 50},
        ]
    }
    assert json.loads(detached.after_json) == {
        "traffic": [{"version": "models/fraud/versions/2", "percent": 50}]
    }
    assert events[0].actor == "alice"
    assert json.loads(events[0].before_json) == {"version": "models/fraud/versions/1"}


async def test_deleting_the_newest_version_moves_latest_back_and_numbers_are_not_reused(
    core: ModelsCore,
) -> None:
    await create_model(core)
    await upload(core)
    await upload(core, data=tiny_model(seed=1))
    await core.versions.delete_version("models/fraud/versions/2", force=False)
    assert (await core.registry.get_model("models/fraud")).latest_version == 1
    assert (await upload(core, data=tiny_model(seed=2))).version == 3


async def test_only_admins_read_another_tenants_version(core: ModelsCore, tenant: str) -> None:
    await create_model(core)
    await upload(core)
    stranger = Identity(subject="bob", tenant="other", roles=frozenset({Role.EDITOR}))
    with bind_identity(stranger), pytest.raises(PermissionDenied):
        await core.versions.get_version("models/fraud/versions/1", tenant)
    with bind_identity(
        Identity(subject="service:inference", tenant="platform", roles=frozenset({Role.ADMIN}))
    ):
        assert (await core.versions.get_version("models/fraud/versions/1", tenant)).version == 1
        with pytest.raises(NotFound):
            await core.versions.get_version("models/fraud/versions/1")
