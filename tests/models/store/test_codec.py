"""Deployment specs as stored: what is written reads back the same, and older rows still read."""

from __future__ import annotations

from services.models.domain import Batching, DeploymentSpec, Execution, TrafficTarget
from services.models.store.codec import spec_from_json, spec_to_json

SPEC = DeploymentSpec(
    model_id="fraud",
    traffic=(TrafficTarget(1, 100),),
    batching=Batching(max_batch_size=8, max_queue_delay_micros=500, hold_lone_requests=True),
    execution=Execution(intra_op_threads=2, allow_spinning=True, allow_tf32=True),
)


def _read(data: dict[str, object]) -> DeploymentSpec:
    return spec_from_json(
        data, model_id=SPEC.model_id, display_name=SPEC.display_name, labels={}, traffic=SPEC.traffic
    )


def test_a_spec_reads_back_as_written() -> None:
    assert _read(spec_to_json(SPEC)) == SPEC


def test_a_spec_stored_before_lone_requests_could_be_held_does_not_hold_them() -> None:
    stored = spec_to_json(SPEC)
    batching = dict(stored["batching"])
    del batching["hold_lone_requests"]
    assert _read({**stored, "batching": batching}).batching.hold_lone_requests is False


def test_a_spec_stored_before_threads_could_spin_does_not_let_them() -> None:
    stored = spec_to_json(SPEC)
    execution = dict(stored["execution"])
    del execution["allow_spinning"]
    assert _read({**stored, "execution": execution}).execution.allow_spinning is False


def test_a_spec_stored_before_tf32_could_be_allowed_does_not_allow_it() -> None:
    stored = spec_to_json(SPEC)
    execution = dict(stored["execution"])
    del execution["allow_tf32"]
    assert _read({**stored, "execution": execution}).execution.allow_tf32 is False
