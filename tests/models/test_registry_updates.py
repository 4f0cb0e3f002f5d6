"""Updates of models and versions that must not succeed silently, and etags that must follow every change."""

from __future__ import annotations

import pytest

from services.models.core import ModelsCore
from services.models.domain import Model, ModelVersion
from services.runtime.errors import Aborted, InvalidArgument

from .helpers import create_model, upload
from .onnx_models import tiny_model

pytestmark = pytest.mark.usefixtures("caller")


async def test_a_mask_may_quote_a_label_key_in_backticks(core: ModelsCore) -> None:
    # AIP-161 quotes a map key that is not an identifier (here: its '-'); the key was taken with its
    # backticks, so the label the client sent was silently left unchanged.
    await create_model(core, "fraud", labels={"cost-center": "old", "team": "risk"})
    changes = Model(model_id="", labels={"cost-center": "new"})
    updated = await core.registry.update_model("models/fraud", changes, ["labels.`cost-center`"])
    assert dict(updated.labels) == {"cost-center": "new", "team": "risk"}


@pytest.mark.parametrize("path", ["labels.Team", "labels.team x", "labels.`team", "labels.``"])
async def test_a_mask_naming_a_key_no_label_can_have_is_invalid_argument(core: ModelsCore, path: str) -> None:
    created = await create_model(core, "fraud", labels={"team": "risk"})
    with pytest.raises(InvalidArgument) as raised:
        await core.registry.update_model("models/fraud", Model(model_id=""), ["description", path])
    assert [v.field for v in raised.value.violations] == ["update_mask.paths[1]"]
    assert path in raised.value.violations[0].description
    assert await core.registry.get_model("models/fraud") == created


async def test_a_version_mask_naming_an_impossible_metric_is_invalid_argument(core: ModelsCore) -> None:
    await create_model(core)
    await upload(core)
    with pytest.raises(InvalidArgument) as raised:
        await core.versions.update_version(
            "models/fraud/versions/1", ModelVersion(model_id="", version=0), ["metrics.top 1"]
        )
    assert [v.field for v in raised.value.violations] == ["update_mask.paths[0]"]
    changes = ModelVersion(model_id="", version=0, metrics={"top-1": 0.5}, labels={"ab-test": "b"})
    updated = await core.versions.update_version(
        "models/fraud/versions/1", changes, ["metrics.`top-1`", "labels.`ab-test`"]
    )
    assert (dict(updated.metrics), dict(updated.labels)) == ({"top-1": 0.5}, {"ab-test": "b"})


async def test_deleting_the_newest_version_changes_the_models_etag(core: ModelsCore) -> None:
    # The model's latest version is part of the model: a client holding the etag of the model as it was
    # before must not update it as if nothing had changed.
    await create_model(core)
    await upload(core)
    await upload(core, data=tiny_model(seed=1))
    before = await core.registry.get_model("models/fraud")
    await core.versions.delete_version("models/fraud/versions/2", force=False)
    after = await core.registry.get_model("models/fraud")
    assert after.latest_version == 1
    assert after.etag != before.etag
    stale = Model(model_id="", display_name="x", etag=before.etag)
    with pytest.raises(Aborted):
        await core.registry.update_model("models/fraud", stale, ["display_name"])


async def test_deleting_an_older_version_leaves_the_models_etag(core: ModelsCore) -> None:
    await create_model(core)
    await upload(core)
    await upload(core, data=tiny_model(seed=1))
    before = await core.registry.get_model("models/fraud")
    await core.versions.delete_version("models/fraud/versions/1", force=False)
    assert await core.registry.get_model("models/fraud") == before
