"""Listing edge cases through the core, on both stores: pages that change between requests, tokens
replayed with another query or by another tenant, and filter values that SQL would treat specially."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.models.artifacts import ArtifactStorage
from services.models.core import ModelsCore
from services.runtime.auth import Identity, Role, bind_identity
from services.runtime.errors import Code, InvalidArgument, NotFound
from services.runtime.store import Database

from .helpers import create_model, upload
from .onnx_models import tiny_model

pytestmark = pytest.mark.usefixtures("caller")

_NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
async def frozen(
    database: Database, storage: ArtifactStorage, staging_dir: Path
) -> AsyncIterator[ModelsCore]:
    """A core whose clock always reads the same instant: every model has the same create_time."""
    built = ModelsCore.build(
        database, storage, staging_dir=staging_dir, max_upload_bytes=1024 * 1024, clock=lambda: _NOON
    )
    try:
        yield built
    finally:
        await built.close()


async def _all_ids(core: ModelsCore, size: int, filter_text: str = "", order_by: str = "") -> list[str]:
    seen: list[str] = []
    token = ""
    while True:
        page = await core.registry.list_models(size, token, filter_text, order_by)
        seen += [m.model_id for m in page.items]
        token = page.next_page_token
        if not token:
            return seen


async def _ids(core: ModelsCore, filter_text: str) -> list[str]:
    page = await core.registry.list_models(0, "", filter_text, "name")
    return [m.model_id for m in page.items]


def _invalid_field(raised: pytest.ExceptionInfo[InvalidArgument]) -> str:
    assert raised.value.code == Code.INVALID_ARGUMENT
    return raised.value.violations[0].field


@pytest.mark.parametrize("order_by", ["", "create_time", "display_name desc", "update_time desc, name"])
async def test_equal_sort_values_are_paged_by_id_without_skips_or_repeats(
    frozen: ModelsCore, order_by: str
) -> None:
    ids = [f"m{index:02d}" for index in range(7)]
    for model_id in reversed(ids):
        await create_model(frozen, model_id, display_name="same")
    assert await _all_ids(frozen, 2, order_by=order_by) == ids


@pytest.mark.parametrize("order_by", ["name", "display_name", "create_time desc"])
async def test_models_added_or_removed_between_pages_never_shift_the_others(
    core: ModelsCore, order_by: str
) -> None:
    for index in range(0, 10, 2):
        await create_model(core, f"m{index}", display_name=f"d{index}")
    first = await core.registry.list_models(2, "", "", order_by)
    seen = [m.model_id for m in first.items]
    # Remove one already listed and one not yet listed; add some on both sides of the cursor.
    await core.registry.delete_model(f"models/{seen[0]}", force=False, etag="")
    remaining = {"m0", "m2", "m4", "m6", "m8"} - set(seen)
    gone = sorted(remaining)[1]
    await core.registry.delete_model(f"models/{gone}", force=False, etag="")
    for index in (1, 5, 9):
        await create_model(core, f"m{index}", display_name=f"d{index}")
    token = first.next_page_token
    while token:
        page = await core.registry.list_models(2, token, "", order_by)
        seen += [m.model_id for m in page.items]
        token = page.next_page_token
    assert len(seen) == len(set(seen))
    present_throughout = {"m0", "m2", "m4", "m6", "m8"} - {seen[0], gone}
    assert present_throughout <= set(seen)
    assert gone not in seen


async def test_a_new_page_size_is_honoured_with_the_same_token(core: ModelsCore) -> None:
    # AIP-158: a client may change page_size between pages; the rest of the request must not change.
    for index in range(6):
        await create_model(core, f"m{index}")
    first = await core.registry.list_models(1, "", "", "name")
    second = await core.registry.list_models(4, first.next_page_token, "", "name")
    assert [m.model_id for m in second.items] == ["m1", "m2", "m3", "m4"]


async def test_another_tenants_page_token_is_invalid_argument(core: ModelsCore, tenant: str) -> None:
    for index in range(3):
        await create_model(core, f"m{index}")
    page = await core.registry.list_models(1, "", "", "name")
    other = Identity(subject="bob", tenant=f"{tenant}-other", roles=frozenset({Role.EDITOR}))
    with bind_identity(other):
        for index in range(3):
            await create_model(core, f"m{index}")
        with pytest.raises(InvalidArgument) as raised:
            await core.registry.list_models(1, page.next_page_token, "", "name")
    assert _invalid_field(raised) == "page_token"


async def test_another_tenants_alias_page_token_is_invalid_argument(core: ModelsCore, tenant: str) -> None:
    async def two_aliases() -> None:
        await create_model(core)
        await upload(core)
        for alias in ("a", "b"):
            await core.aliases.set_alias(f"models/fraud/aliases/{alias}", "models/fraud/versions/1")

    await two_aliases()
    page = await core.aliases.list_aliases("models/fraud", 1, "")
    assert page.next_page_token
    other = Identity(subject="bob", tenant=f"{tenant}-other", roles=frozenset({Role.EDITOR}))
    with bind_identity(other):
        await two_aliases()
        with pytest.raises(InvalidArgument) as raised:
            await core.aliases.list_aliases("models/fraud", 1, page.next_page_token)
    assert _invalid_field(raised) == "page_token"


async def test_aliases_added_or_removed_between_pages_never_shift_the_others(core: ModelsCore) -> None:
    await create_model(core)
    await upload(core)
    for alias in ("b", "d", "f", "h"):
        await core.aliases.set_alias(f"models/fraud/aliases/{alias}", "models/fraud/versions/1")
    first = await core.aliases.list_aliases("models/fraud", 2, "")
    assert [a.alias for a in first.items] == ["b", "d"]
    await core.aliases.delete_alias("models/fraud/aliases/b")
    for alias in ("a", "e"):
        await core.aliases.set_alias(f"models/fraud/aliases/{alias}", "models/fraud/versions/1")
    rest = await core.aliases.list_aliases("models/fraud", 10, first.next_page_token)
    assert [a.alias for a in rest.items] == ["e", "f", "h"]


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        ('display_name = "50%"', ["pct"]),
        ('display_name = "a_c"', ["under"]),
        ('display_name = "%"', []),
        ('display_name = "a%"', []),
        ('labels.k = "5%"', ["pct"]),
        ('labels.k = "x_y"', ["under"]),
        ('labels.k = "_"', []),
        ('labels.k != "5%"', ["abc", "quote", "under"]),
    ],
)
async def test_sql_wildcards_in_values_match_literally(
    core: ModelsCore, filter_text: str, expected: list[str]
) -> None:
    await create_model(core, "pct", display_name="50%", labels={"k": "5%"})
    await create_model(core, "under", display_name="a_c", labels={"k": "x_y"})
    await create_model(core, "abc", display_name="abc", labels={"k": "xzy"})
    await create_model(core, "quote", display_name='say "hi" \\ there', labels={"k": "it's"})
    assert await _ids(core, filter_text) == expected


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        (r'display_name = "say \"hi\" \\ there"', ["quote"]),
        (r"labels.k = 'it\'s'", ["quote"]),
        ('labels.k = "it\'s"', ["quote"]),
        ('display_name = "ABC"', []),
        ('display_name = "Abc"', ["abc"]),
        ('labels.team-name = "Ünïcode ✓"', ["abc"]),
        ('labels.team_name = "Ünïcode ✓"', []),
        ('labels.team-name = "ünïcode ✓"', []),
        ('labels.emoji = "😀 🚀"', ["abc"]),
        ('display_name = "Zed 😀"', ["emoji"]),
        # A missing label reads as the empty string (so that != and NOT stay two-valued).
        ('labels.k = ""', ["abc", "emoji"]),
        ("labels.k:*", ["quote"]),
    ],
)
async def test_escapes_case_and_special_characters(
    core: ModelsCore, filter_text: str, expected: list[str]
) -> None:
    await create_model(core, "abc", display_name="Abc", labels={"team-name": "Ünïcode ✓", "emoji": "😀 🚀"})
    await create_model(core, "emoji", display_name="Zed 😀")
    await create_model(core, "quote", display_name='say "hi" \\ there', labels={"k": "it's"})
    assert await _ids(core, filter_text) == expected


@pytest.mark.parametrize(
    "filter_text",
    [
        'create_time > "2026-01-01T00:00:00Z"',
        "create_time = 2026",
        "task > CLASSIFICATION",
        "task = classification",
        "owner = bob",
        "labels.k = ",
        "display_name = 'unterminated",
        "AND",
        "NOT",
        "display_name = x AND (" * 40,
        " OR ".join(["display_name = x"] * 50),
        "-" * 40 + "display_name = x",
    ],
)
async def test_bad_filters_are_invalid_argument_naming_filter(core: ModelsCore, filter_text: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await core.registry.list_models(0, "", filter_text, "")
    assert _invalid_field(raised) == "filter"


async def test_listing_versions_keeps_its_place_while_versions_come_and_go(core: ModelsCore) -> None:
    await create_model(core)
    for seed in range(4):
        await upload(core, data=tiny_model(seed=seed))
    first = await core.versions.list_versions("models/fraud", 2, "", "")
    assert [v.version for v in first.items] == [4, 3]
    await core.versions.delete_version("models/fraud/versions/2", force=False)
    await upload(core, data=tiny_model(seed=9))
    rest = await core.versions.list_versions("models/fraud", 10, first.next_page_token, "")
    assert [v.version for v in rest.items] == [1]


async def test_another_tenants_version_page_token_is_invalid_argument(core: ModelsCore, tenant: str) -> None:
    async def two_versions() -> None:
        await create_model(core)
        for seed in range(2):
            await upload(core, data=tiny_model(seed=seed))

    await two_versions()
    page = await core.versions.list_versions("models/fraud", 1, "", "")
    other = Identity(subject="bob", tenant=f"{tenant}-other", roles=frozenset({Role.EDITOR}))
    with bind_identity(other):
        await two_versions()
        with pytest.raises(InvalidArgument) as raised:
            await core.versions.list_versions("models/fraud", 1, page.next_page_token, "")
    assert _invalid_field(raised) == "page_token"


async def test_alias_edge_cases_are_clear_statuses(core: ModelsCore, tenant: str) -> None:
    await create_model(core)
    for seed in range(2):
        await upload(core, data=tiny_model(seed=seed))
    prod = "models/fraud/aliases/prod"
    with pytest.raises(NotFound):
        await core.aliases.set_alias(prod, "models/fraud/versions/prod")
    with pytest.raises(NotFound):
        await core.aliases.set_alias(prod, "models/fraud/versions/3")
    await core.aliases.set_alias(prod, "models/fraud/versions/1")
    assert (await core.aliases.set_alias(prod, "models/fraud/versions/prod")).version == 1
    assert (await core.aliases.set_alias(prod, "models/fraud/versions/2")).version == 2
    other = Identity(subject="bob", tenant=f"{tenant}-other", roles=frozenset({Role.EDITOR}))
    with bind_identity(other):
        with pytest.raises(NotFound):
            await core.aliases.get_alias(prod)
        with pytest.raises(NotFound):
            await core.aliases.set_alias(prod, "models/fraud/versions/1")
        with pytest.raises(NotFound):
            await core.aliases.delete_alias(prod)
    await core.versions.delete_version("models/fraud/versions/2", force=False)
    with pytest.raises(NotFound):
        await core.aliases.get_alias(prod)
    with pytest.raises(NotFound):
        await core.aliases.delete_alias(prod)
    await core.aliases.set_alias(prod, "models/fraud/versions/1")
    await core.registry.delete_model("models/fraud", force=False, etag="")
    await create_model(core)
    assert (await core.aliases.list_aliases("models/fraud", 0, "")).items == ()


async def test_display_name_order_is_by_code_point_on_every_store(core: ModelsCore) -> None:
    names = {"m1": "beta", "m2": "Beta", "m3": "alpha", "m4": "Álpha", "m5": "_x", "m6": "😀", "m7": "a b"}
    for model_id, display_name in names.items():
        await create_model(core, model_id, display_name=display_name)
    expected = sorted(names, key=lambda model_id: names[model_id])
    assert await _all_ids(core, 2, order_by="display_name") == expected
