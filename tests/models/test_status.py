"""A deployment's state from reported conditions."""

from __future__ import annotations

import pytest

from services.models.domain import Condition, DeploymentSpec, LoadedVersion, StatusReport, TrafficTarget
from services.models.enums import DeploymentState
from services.models.status import compute_state

SPEC = DeploymentSpec("m", (TrafficTarget(1, 50), TrafficTarget(2, 50)))
V1, V2 = "models/m/versions/1", "models/m/versions/2"


@pytest.mark.parametrize(
    ("conditions", "loaded", "expected"),
    [
        ((), (), DeploymentState.PENDING),
        ((Condition("Ready", True, version=V1),), (LoadedVersion(V2, 1),), DeploymentState.READY),
        ((Condition("Ready", True),), (), DeploymentState.READY),
        (
            (Condition("Ready", True, version=V1), Condition("LoadFailed", True, version=V2)),
            (),
            DeploymentState.DEGRADED,
        ),
        ((Condition("LoadFailed", True),), (), DeploymentState.FAILED),
        (
            (Condition("Ready", True, version=V1), Condition("Ready", False, version=V2)),
            (),
            DeploymentState.PENDING,
        ),
        ((), (LoadedVersion(V1, 0),), DeploymentState.PENDING),
    ],
)
def test_state(
    conditions: tuple[Condition, ...], loaded: tuple[LoadedVersion, ...], expected: DeploymentState
) -> None:
    assert compute_state(SPEC, StatusReport(1, conditions, loaded)) == expected
