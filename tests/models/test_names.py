"""Resource names and ids."""

from __future__ import annotations

import pytest

from services.models import names
from services.runtime.errors import InvalidArgument


def test_parses_well_formed_names() -> None:
    assert names.parse_model_name("models/fraud-v2", "name") == "fraud-v2"
    assert names.parse_version_name("models/fraud/versions/12", "name") == ("fraud", "12")
    assert names.parse_version_name("models/fraud/versions/production", "name") == ("fraud", "production")
    assert names.parse_numbered_version("models/fraud/versions/3", "name") == ("fraud", 3)
    assert names.parse_alias_name("models/fraud/aliases/prod", "name") == ("fraud", "prod")
    assert names.parse_deployment_name("deployments/live", "name") == "live"
    assert names.parse_operation_name("models/m/operations/0af3", "name") == ("m", "0af3")


@pytest.mark.parametrize(
    "name",
    ["", "models", "models/", "models/Fraud", "deployments/x", "models/a/b", "models/../x", "models/a//"],
)
def test_rejects_malformed_model_names_naming_the_field(name: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        names.parse_model_name(name, "model.name")
    assert [v.field for v in raised.value.violations] == ["model.name"]


@pytest.mark.parametrize("name", ["models/m/versions/0", "models/m/versions/01", "models/m/versions/-1"])
def test_version_numbers_are_positive_and_unpadded(name: str) -> None:
    with pytest.raises(InvalidArgument):
        names.parse_version_name(name, "name")


def test_an_alias_is_not_a_numbered_version() -> None:
    with pytest.raises(InvalidArgument):
        names.parse_numbered_version("models/m/versions/prod", "deployment.traffic[0].version")
