"""`aiplat models|alias|deploy` against a real model management service."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from aiplat.models.v1 import model_pb2, registry_service_pb2, registry_service_pb2_grpc
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
            "--allow-tf32",
        ],
    )
    assert deployed["traffic"] == [{"version": "models/fraud/versions/1", "percent": 100}]  # type: ignore[index]
    assert deployed["execution"]["allowSpinning"] is True  # type: ignore[index]
    assert deployed["execution"]["allowTf32"] is True  # type: ignore[index]
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


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read {file}: No such file or directory"), (b"", "{file} is empty")],
)
def test_upload_of_a_missing_or_empty_file_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    model_file = tmp_path / "fraud.onnx"
    if content is not None:
        model_file.write_bytes(content)
    assert main(["models", "create", "unread"]) == 0
    capsys.readouterr()

    assert main(["models", "upload", "unread", str(model_file)]) == 1

    assert capsys.readouterr().err.startswith(message.format(file=model_file))
    assert main(["models", "delete", "unread"]) == 0


@pytest.mark.usefixtures("cli_env")
def test_upload_reads_a_model_from_a_pipe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # As `curl -s $URL | aiplat models upload piped /dev/stdin`: a pipe can be read only once.
    onnx_bytes = tiny_mlp().onnx_bytes
    read_end, write_end = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(write_end, onnx_bytes), os.close(write_end)))
    writer.start()
    assert main(["models", "create", "piped"]) == 0
    capsys.readouterr()
    try:
        uploaded = _json(capsys, ["models", "upload", "piped", f"/dev/fd/{read_end}"])
    finally:
        writer.join()
        os.close(read_end)

    assert uploaded["name"] == "models/piped/versions/1"  # type: ignore[index]
    assert uploaded["sha256"] == hashlib.sha256(onnx_bytes).hexdigest()  # type: ignore[index]
    assert int(uploaded["sizeBytes"]) == len(onnx_bytes)  # type: ignore[index]
    assert main(["models", "delete", "piped"]) == 0


@pytest.mark.usefixtures("cli_env")
def test_models_get_as_json_has_the_model_and_its_versions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_file = tmp_path / "ranker.onnx"
    model_file.write_bytes(tiny_mlp().onnx_bytes)
    assert main(["models", "create", "ranker"]) == 0
    assert main(["models", "upload", "ranker", str(model_file)]) == 0
    assert main(["models", "upload", "ranker", str(model_file)]) == 0
    capsys.readouterr()

    shown = _json(capsys, ["models", "get", "ranker"])

    assert shown["name"] == "models/ranker"  # type: ignore[index]
    assert [v["name"] for v in shown["versions"]] == [  # type: ignore[index]
        "models/ranker/versions/2",
        "models/ranker/versions/1",
    ]
    assert main(["models", "delete", "ranker"]) == 0


@pytest.mark.usefixtures("cli_env")
def test_deletes_print_json_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_file = tmp_path / "short-lived.onnx"
    model_file.write_bytes(tiny_mlp().onnx_bytes)
    assert main(["models", "create", "short-lived"]) == 0
    assert main(["models", "upload", "short-lived", str(model_file)]) == 0
    assert main(["deploy", "create", "short-lived", "--model", "short-lived", "--traffic", "1=100"]) == 0
    capsys.readouterr()

    assert _json(capsys, ["deploy", "delete", "short-lived"]) == {
        "name": "deployments/short-lived",
        "deleted": True,
    }
    assert _json(capsys, ["models", "delete", "short-lived"]) == {
        "name": "models/short-lived",
        "deleted": True,
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["models", "create", "m", "--label", "team"], "--label 'team': expected KEY=VALUE"),
        (["deploy", "create", "d", "--model", "m", "--traffic", "=100"], "traffic '=100': expected"),
        (["deploy", "create", "d", "--model", "m", "--traffic", "1=101"], "traffic '1=101': expected"),
        (
            ["deploy", "create", "d", "--model", "m", "--traffic", "1=99999999999"],
            "traffic '1=99999999999': expected",
        ),
        (["deploy", "set-traffic", "d", "1=-5"], "traffic '1=-5': expected"),
    ],
)
def test_malformed_arguments_are_named_before_any_call(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    # Nothing listens at port 1: a command that called out would fail with UNAVAILABLE instead.
    monkeypatch.setenv("AIPLAT_ADDRESS", "127.0.0.1:1")
    monkeypatch.setenv("AIPLAT_TOKEN", "token")

    assert main(argv) == 1

    assert capsys.readouterr().err.startswith(message)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["models", "create", "m", "--task", "vision"], "argument --task: invalid choice: 'vision'"),
        (
            ["deploy", "create", "d", "--model", "m", "--traffic", "1=100", "--instances", "4294967296"],
            "argument --instances: 4294967296 is out of range",
        ),
        (
            ["deploy", "create", "d", "--model", "m", "--traffic", "1=100", "--max-batch-size", "x"],
            "argument --max-batch-size: expected an integer, got 'x'",
        ),
    ],
)
def test_option_values_that_cannot_be_sent_are_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)

    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


class _OneVersionPerPage(registry_service_pb2_grpc.ModelRegistryServiceServicer):
    """A registry that answers a page smaller than asked for, as any server may."""

    _COUNT = 3

    def GetModel(  # noqa: N802 - the gRPC method name
        self, request: registry_service_pb2.GetModelRequest, context: grpc.ServicerContext
    ) -> model_pb2.Model:
        return model_pb2.Model(name=request.name)

    def ListModelVersions(  # noqa: N802 - the gRPC method name
        self, request: registry_service_pb2.ListModelVersionsRequest, context: grpc.ServicerContext
    ) -> registry_service_pb2.ListModelVersionsResponse:
        number = int(request.page_token or "1")
        return registry_service_pb2.ListModelVersionsResponse(
            model_versions=[model_pb2.ModelVersion(name=f"{request.parent}/versions/{number}")],
            next_page_token="" if number == self._COUNT else str(number + 1),
        )


@pytest.fixture
def paging_registry() -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    registry_service_pb2_grpc.add_ModelRegistryServiceServicer_to_server(_OneVersionPerPage(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


def test_models_get_shows_every_page_of_versions(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], paging_registry: str
) -> None:
    monkeypatch.setenv("AIPLAT_ADDRESS", paging_registry)
    monkeypatch.setenv("AIPLAT_TOKEN", "token")

    assert main(["models", "get", "fraud"]) == 0

    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()[4:]]
    assert listed == [f"models/fraud/versions/{n}" for n in (1, 2, 3)]
