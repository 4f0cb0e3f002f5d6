"""What the inference service makes of a watched deployment's execution settings."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from aiplat.models.v1 import deployment_pb2, deployment_service_pb2
from services.inference.convert_deployments import (
    INLINE_RUN_US,
    MAX_CONDITION_MESSAGE,
    report_request,
    wanted_in,
)
from services.inference.deployment import Condition, DeploymentState, DeploymentStatus
from services.models.validation import has_control_characters


def _watched(execution: deployment_pb2.ExecutionConfig) -> deployment_service_pb2.WatchDeploymentsResponse:
    return deployment_service_pb2.WatchDeploymentsResponse(
        tenant="acme",
        deployment=deployment_pb2.Deployment(
            name="deployments/live",
            generation=3,
            traffic=[deployment_pb2.TrafficTarget(version="models/fraud/versions/1", percent=100)],
            execution=execution,
        ),
    )


def test_execution_settings_reach_the_sessions() -> None:
    wanted = wanted_in(
        _watched(
            deployment_pb2.ExecutionConfig(
                device=deployment_pb2.EXECUTION_DEVICE_CPU,
                inter_op_threads=1,
                allow_spinning=True,
                allow_tf32=True,
            )
        ),
        default_threads=2,
    )
    execution = wanted.execution
    assert execution.device == "cpu"
    assert execution.intra_op_threads == 2, "left to the service: its default"
    assert execution.inter_op_threads == 1
    assert execution.allow_spinning is True
    assert execution.allow_tf32 is True
    assert execution.inline_run_us == INLINE_RUN_US


def test_threads_do_not_spin_unless_the_deployment_says_so() -> None:
    assert wanted_in(_watched(deployment_pb2.ExecutionConfig())).execution.allow_spinning is False


def test_tf32_stays_off_unless_the_deployment_allows_it() -> None:
    assert wanted_in(_watched(deployment_pb2.ExecutionConfig())).execution.allow_tf32 is False


def test_a_long_load_failure_is_reported_clipped_to_what_model_management_accepts() -> None:
    failure = "onnxruntime says: " + "x" * 20_000
    status = DeploymentStatus(
        "deployments/live",
        "acme",
        3,
        DeploymentState.FAILED,
        (),
        (
            Condition("LoadFailed", True, "ARTIFACT_UNREADABLE", failure, "models/m/versions/1"),
            Condition("Ready", False, "NO_VERSION_LOADED", "deployment is FAILED"),
        ),
    )
    report = report_request(status, "node-a")
    clipped, short = report.conditions
    assert len(clipped.message) == MAX_CONDITION_MESSAGE
    assert clipped.message.startswith("onnxruntime says: xxx")
    assert clipped.message.endswith("…")
    assert short.message == "deployment is FAILED"
    assert (report.generation, report.reporter) == (3, "node-a")


def test_the_create_time_tells_a_deployment_created_again_from_its_earlier_self() -> None:
    unstamped = wanted_in(_watched(deployment_pb2.ExecutionConfig()))
    assert unstamped.create_time is None
    earlier, later = (_watched(deployment_pb2.ExecutionConfig()) for _ in range(2))
    earlier.deployment.create_time.FromDatetime(datetime(2026, 1, 1, tzinfo=UTC))
    later.deployment.create_time.FromDatetime(datetime(2026, 1, 2, tzinfo=UTC))
    first, again = wanted_in(earlier), wanted_in(later)
    assert again.create_time == datetime(2026, 1, 2, tzinfo=UTC)
    # Generations start over in the new deployment: its create time, not its generation, decides.
    again = dataclasses.replace(again, generation=1)
    assert again.recreates(first)
    assert first.older_than(again)
    assert not again.older_than(first)
    assert not unstamped.recreates(first), "without a create time only generations compare"


def test_a_load_failure_quoting_control_characters_is_reported_in_a_form_model_management_accepts() -> None:
    # ONNX Runtime quotes the model's own node and input names, which may hold any character;
    # model management refuses a report with control characters (INVALID_ARGUMENT), and the
    # reporter drops a refused report, so the failure would never show on the deployment.
    failure = "node 'conv\x00\x1b[31m' has no input\r\n\tat graph\x7f"
    status = DeploymentStatus(
        "deployments/live",
        "acme",
        3,
        DeploymentState.FAILED,
        (),
        (Condition("LoadFailed", True, "MODEL_INVALID", failure, "models/m/versions/1"),),
    )
    (condition,) = report_request(status, "node-a").conditions
    assert not has_control_characters(condition.message, multiline=True)
    assert condition.message == "node 'conv\\x00\\x1b[31m' has no input\r\n\tat graph\\x7f"
