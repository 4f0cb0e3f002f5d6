"""Text ordering, text comparisons and stored text behave the same on SQLite and on PostgreSQL.

The PostgreSQL store of these tests is a database with a language collation (see ``conftest``), as a
production database usually has: before the store fixed its text columns to code-point order, lists
sorted there by language rules (case and punctuation mostly ignored) and by byte value on SQLite.
"""

from __future__ import annotations

import pytest

from services.models.core import ModelsCore
from services.runtime.auth import Identity, Role, bind_identity
from services.runtime.errors import NotFound

from .helpers import create_model, draft, upload

pytestmark = pytest.mark.usefixtures("caller")

# Pairs that a language collation orders the other way round from code points: punctuation and
# case are ignored at first, and an upper-case letter follows its lower-case one.
_IDS = ["a-c", "ab", "a0", "aa-b", "a", "a-a", "b"]
_DISPLAY_NAMES = {"m1": "beta", "m2": "Beta", "m3": "a-c", "m4": "ab", "m5": "_x", "m6": "Zed", "m7": "a b"}


async def _model_ids(core: ModelsCore, order_by: str, filter_text: str = "") -> list[str]:
    seen: list[str] = []
    token = ""
    while True:
        page = await core.registry.list_models(2, token, filter_text, order_by)
        seen += [model.model_id for model in page.items]
        token = page.next_page_token
        if not token:
            return seen


async def test_models_page_by_name_in_code_point_order(core: ModelsCore) -> None:
    for model_id in _IDS:
        await create_model(core, model_id)
    assert await _model_ids(core, "name") == sorted(_IDS)
    assert await _model_ids(core, "name desc") == sorted(_IDS, reverse=True)


async def test_models_page_by_display_name_in_code_point_order(core: ModelsCore) -> None:
    for model_id, display_name in _DISPLAY_NAMES.items():
        await create_model(core, model_id, display_name=display_name)
    expected = sorted(_DISPLAY_NAMES, key=lambda model_id: _DISPLAY_NAMES[model_id])
    assert await _model_ids(core, "display_name") == expected
    assert await _model_ids(core, "display_name desc") == expected[::-1]


async def test_equal_display_names_are_paged_by_id_in_code_point_order(core: ModelsCore) -> None:
    for model_id in _IDS:
        await create_model(core, model_id, display_name="same")
    assert await _model_ids(core, "display_name, name") == sorted(_IDS)


async def test_aliases_are_listed_and_paged_in_code_point_order(core: ModelsCore) -> None:
    await create_model(core)
    await upload(core)
    for alias in _IDS:
        await core.aliases.set_alias(f"models/fraud/aliases/{alias}", "models/fraud/versions/1")
    seen: list[str] = []
    token = ""
    while True:
        page = await core.aliases.list_aliases("models/fraud", 2, token)
        seen += [alias.alias for alias in page.items]
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(_IDS)
    version = await core.versions.get_version("models/fraud/versions/1")
    assert list(version.aliases) == sorted(_IDS)


async def test_deployments_are_paged_in_code_point_order(core: ModelsCore) -> None:
    await create_model(core)
    await upload(core)
    for deployment_id in _IDS:
        await core.deployments.create_deployment(deployment_id, draft())
    seen: list[str] = []
    token = ""
    while True:
        page = await core.deployments.list_deployments(2, token, "")
        seen += [deployment.deployment_id for deployment in page.items]
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(_IDS)


async def test_text_filters_match_exactly_and_case_sensitively(core: ModelsCore) -> None:
    await create_model(core, "lower", display_name="fraud", labels={"team": "risk"})
    await create_model(core, "upper", display_name="Fraud", labels={"team": "Risk"})
    await create_model(core, "accent", display_name="fraud\u0301", labels={"team": "risk "})
    assert await _model_ids(core, "name", 'display_name = "fraud"') == ["lower"]
    assert await _model_ids(core, "name", 'display_name = "FRAUD"') == []
    assert await _model_ids(core, "name", 'display_name != "fraud"') == ["accent", "upper"]
    assert await _model_ids(core, "name", 'labels.team = "risk"') == ["lower"]
    assert await _model_ids(core, "name", 'labels.team = "Risk"') == ["upper"]


async def test_lookups_of_names_differing_only_in_case_are_not_found(core: ModelsCore, tenant: str) -> None:
    await create_model(core, "fraud")
    upper = Identity(subject="alice", tenant=tenant.upper(), roles=frozenset({Role.EDITOR}))
    with bind_identity(upper), pytest.raises(NotFound):
        await core.registry.get_model("models/fraud")


async def test_a_long_subject_is_stored_as_on_every_store(core: ModelsCore, tenant: str) -> None:
    # Identity providers issue subjects of any length (URLs, emails of federated users).
    subject = "https://idp.example.com/users/" + "x" * 300
    with bind_identity(Identity(subject=subject, tenant=tenant, roles=frozenset({Role.EDITOR}))):
        await create_model(core)
        version = await upload(core)
        alias = await core.aliases.set_alias("models/fraud/aliases/prod", "models/fraud/versions/1")
        events = await core.feeds.list_audit_events(0, "", resource="", start_time=None, end_time=None)
    assert version.creator == subject
    assert alias.updater == subject
    assert {event.actor for event in events.items} == {subject}


async def test_a_long_tenant_is_served_as_on_every_store(core: ModelsCore) -> None:
    # The tenant claim is the identity provider's, and no shorter than it chooses.
    tenant = "tenant-" + "t" * 200
    with bind_identity(Identity(subject="alice", tenant=tenant, roles=frozenset({Role.EDITOR}))):
        await create_model(core)
        assert (await core.registry.get_model("models/fraud")).model_id == "fraud"
