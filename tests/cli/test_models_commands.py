"""`aiplat models|alias|deploy` against a real model management service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.onnx_models import tiny_mlp
from services.cli.main import main


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> object:
    assert main([*argv, "-o", "json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.usefixtures("cli_env")
def test_register_upload_alias_deploy_shift_and_roll_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_file = tmp_path / "fraud.onnx"
    model_file.write_bytes(tiny_mlp().onnx_bytes)

    created = _json(capsys, ["models", "create", "fraud", "--task", "classification", "--label", "team=risk"])
    assert created == {
        "name": "models/fraud",
        "displayName": "fraud",
        "labels": {"team": "risk"},
        "task": "MODEL_TASK_CLASSIFICATION",
        "createTime": created["createTime"],  # type: ignore[index]
        "updateTime": created["updateTime"],  # type: ignore[index]
        "etag": created["etag"],  # type: ignore[index]
    }
    first = _json(capsys, ["models", "upload", "fraud", str(model_file)])
    second = _json(capsys, ["models", "upload", "fraud", str(model_file), "--description", "retrained"])
    assert (first["name"], second["name"]) == ("models/fraud/versions/1", "models/fraud/versions/2")  # type: ignore[index]
    assert first["inputs"] == [{"name": "input", "dataType": "TENSOR_DATA_TYPE_FP32", "dims": ["-1", "64"]}]  # type: ignore[index]

    alias = _json(capsys, ["alias", "set", "fraud", "production", "1"])
    assert alias["version"] == "models/fraud/versions/1"  # type: ignore[index]

    deployed = _json(
        capsys,
        [
            "deploy",
            "create",
            "fraud-scorer",
            "--model",
            "fraud",
            "--traffic",
            "1=100",
            "--instances",
            "2",
            "--max-batch-size",
            "32",
            "--allow-spinning",
        ],
    )
    assert deployed["traffic"] == [{"version": "models/fraud/versions/1", "percent": 100}]  # type: ignore[index]
    assert deployed["execution"]["allowSpinning"] is True  # type: ignore[index]
    shifted = _json(capsys, ["deploy", "set-traffic", "fraud-scorer", "1=90", "2=10"])
    assert [t["percent"] for t in shifted["traffic"]] == [90, 10]  # type: ignore[index]
    fetched = _json(capsys, ["deploy", "get", "fraud-scorer"])
    assert fetched["traffic"] == shifted["traffic"]  # type: ignore[index]
    assert fetched["instancesPerVersion"] == 2  # type: ignore[index]
    assert fetched["batching"]["maxBatchSize"] == 32  # type: ignore[index]
    assert fetched["generation"] == "2"  # type: ignore[index]
    assert main(["deploy", "get", "fraud-scorer"]) == 0
    [header, row] = capsys.readouterr().out.splitlines()
    assert header.split() == ["NAME", "MODEL", "TRAFFIC", "STATE", "LOADED", "GENERATION"]
    assert row.split() == ["deployments/fraud-scorer", "models/fraud", "v1=90%", "v2=10%", "PENDING", "2"]
    restored = _json(capsys, ["deploy", "rollback", "fraud-scorer"])
    assert restored["traffic"] == deployed["traffic"]  # type: ignore[index]

    assert main(["deploy", "list"]) == 0
    table = capsys.readouterr().out
    assert "deployments/fraud-scorer" in table
    assert "v1=100%" in table
    assert main(["models", "get", "fraud"]) == 0
    assert "models/fraud/versions/2" in capsys.readouterr().out

    assert main(["models", "delete", "fraud"]) == 1
    assert "FAILED_PRECONDITION" in capsys.readouterr().err
    assert main(["deploy", "delete", "fraud-scorer"]) == 0
    assert main(["deploy", "get", "fraud-scorer"]) == 1
    assert capsys.readouterr().err.startswith("NOT_FOUND: deployments/fraud-scorer")
    assert main(["models", "delete", "fraud"]) == 0
    capsys.readouterr()
    assert _json(capsys, ["models", "list"]) == []


@pytest.mark.usefixtures("cli_env")
def test_bad_input_is_reported_with_the_offending_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "create", "Not_Valid"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("INVALID_ARGUMENT")
    assert "model_id" in error


def test_missing_token_is_explained(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AIPLAT_TOKEN", raising=False)
    assert main(["models", "list"]) == 1
    assert "aiplat token" in capsys.readouterr().err
