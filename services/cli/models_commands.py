"""`aiplat models ...` and `aiplat alias ...`: the model registry from the command line."""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from aiplat.models.v1 import model_pb2, registry_service_pb2, registry_service_pb2_grpc
from services.cli.client import LIST_PAGE_SIZE, CommandError, connect, every_page
from services.cli.output import Column, as_json_with, emit, emit_deleted
from services.cli.settings import CliSettings

_CHUNK_BYTES = 1 << 20
_TASK_PREFIX = "MODEL_TASK_"
_TASKS = [
    name.removeprefix(_TASK_PREFIX).lower()
    for name, _ in model_pb2.ModelTask.items()
    if name != f"{_TASK_PREFIX}UNSPECIFIED"
]

MODEL_COLUMNS: list[Column] = [
    ("name", lambda m: m.name),
    ("display name", lambda m: m.display_name),
    ("task", lambda m: model_pb2.ModelTask.Name(m.task).removeprefix("MODEL_TASK_")),
    ("latest", lambda m: m.latest_version_id),
]
VERSION_COLUMNS: list[Column] = [
    ("name", lambda v: v.name),
    ("state", lambda v: model_pb2.ModelVersionState.Name(v.state).removeprefix("MODEL_VERSION_STATE_")),
    ("size", lambda v: v.size_bytes),
    ("opset", lambda v: v.onnx_opset),
    ("inputs", lambda v: ", ".join(f"{t.name}{list(t.dims)}" for t in v.inputs)),
    ("aliases", lambda v: ",".join(v.aliases)),
]
ALIAS_COLUMNS: list[Column] = [("name", lambda a: a.name), ("version", lambda a: a.version)]


def _labels(pairs: list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator:
            raise CommandError(f"--label {pair!r}: expected KEY=VALUE, e.g. team=risk")
        labels[key] = value
    return labels


def _create(args: argparse.Namespace) -> None:
    task = f"{_TASK_PREFIX}{(args.task or 'unspecified').upper()}"
    model = model_pb2.Model(
        display_name=args.display_name or args.model,
        description=args.description,
        task=task,
        labels=_labels(args.label),
    )
    with connect(CliSettings()) as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        created = stub.CreateModel(registry_service_pb2.CreateModelRequest(model=model, model_id=args.model))
    emit(created, MODEL_COLUMNS, args.output)


def _list(args: argparse.Namespace) -> None:
    with connect(CliSettings()) as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        pages = every_page(
            lambda token: stub.ListModels(
                registry_service_pb2.ListModelsRequest(
                    filter=args.filter, page_token=token, page_size=LIST_PAGE_SIZE
                ),
            )
        )
        models = [model for page in pages for model in page.models]
    emit(models, MODEL_COLUMNS, args.output)


def _get(args: argparse.Namespace) -> None:
    with connect(CliSettings()) as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        model = stub.GetModel(registry_service_pb2.GetModelRequest(name=f"models/{args.model}"))
        pages = every_page(
            lambda token: stub.ListModelVersions(
                registry_service_pb2.ListModelVersionsRequest(
                    parent=model.name, page_token=token, page_size=LIST_PAGE_SIZE
                )
            )
        )
        versions = [version for page in pages for version in page.model_versions]
    if args.output == "json":
        print(as_json_with(model, "versions", versions))
        return
    emit(model, MODEL_COLUMNS, args.output)
    if versions:
        print()
        emit(versions, VERSION_COLUMNS, args.output)


def _delete(args: argparse.Namespace) -> None:
    name = f"models/{args.model}"
    with connect(CliSettings()) as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        stub.DeleteModel(registry_service_pb2.DeleteModelRequest(name=name, force=args.force))
    emit_deleted(name, args.output)


def _checksum(handle: BinaryIO, path: Path) -> tuple[str, int]:
    """SHA-256 and size of what ``handle`` holds from where it stands.

    Read before the call starts: a file that fails inside the upload stream only
    cancels the call, and gRPC then reports no more than UNKNOWN.
    """
    digest = hashlib.sha256()
    size = 0
    try:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror or error}") from error
    if size == 0:
        raise CommandError(f"{path} is empty: expected an ONNX model")
    return digest.hexdigest(), size


def _metadata(
    handle: BinaryIO, path: Path, parent: str, description: str
) -> registry_service_pb2.UploadModelVersionMetadata:
    sha256, size = _checksum(handle, path)
    return registry_service_pb2.UploadModelVersionMetadata(
        parent=parent,
        model_version=model_pb2.ModelVersion(description=description),
        sha256=sha256,
        size_bytes=size,
    )


def _chunks(
    handle: BinaryIO, metadata: registry_service_pb2.UploadModelVersionMetadata
) -> Iterator[registry_service_pb2.UploadModelVersionRequest]:
    yield registry_service_pb2.UploadModelVersionRequest(metadata=metadata)
    while chunk := handle.read(_CHUNK_BYTES):
        yield registry_service_pb2.UploadModelVersionRequest(chunk=chunk)


def _reopened_chunks(
    path: Path, metadata: registry_service_pb2.UploadModelVersionMetadata
) -> Iterator[registry_service_pb2.UploadModelVersionRequest]:
    with path.open("rb") as handle:
        yield from _chunks(handle, metadata)


@contextmanager
def _opened(path: Path) -> Iterator[BinaryIO]:
    """The file at ``path``, open to be read, then rewound, and read again.

    What cannot be read twice (a pipe: ``/dev/stdin``, ``<(curl ...)``) is first copied to a
    temporary file, so its checksum and size are known before the upload starts.
    """
    try:
        handle = path.open("rb")
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror or error}") from error
    with handle:
        if handle.seekable():
            yield handle
            return
        with tempfile.TemporaryFile() as copy:
            try:
                shutil.copyfileobj(handle, copy, _CHUNK_BYTES)
            except OSError as error:
                raise CommandError(f"cannot read {path}: {error.strerror or error}") from error
            copy.seek(0)
            yield copy


def upload_requests(
    path: Path, parent: str, description: str = ""
) -> Iterator[registry_service_pb2.UploadModelVersionRequest]:
    """The upload stream for a file: metadata with its checksum and size first, then 1 MiB chunks.

    The file is opened twice, so it must be a regular file. Raises :class:`CommandError` at once
    when it is missing, unreadable or empty.
    """
    with _opened(path) as handle:
        metadata = _metadata(handle, path, parent, description)
    return _reopened_chunks(path, metadata)


def _upload(args: argparse.Namespace) -> None:
    settings = CliSettings()
    path = Path(args.file)
    with _opened(path) as handle:
        metadata = _metadata(handle, path, f"models/{args.model}", args.description)
        handle.seek(0)
        with connect(settings) as channel:
            stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
            version = stub.UploadModelVersion(
                _chunks(handle, metadata), timeout=settings.upload_timeout_seconds
            )
    emit(version, VERSION_COLUMNS, args.output)


def _alias_set(args: argparse.Namespace) -> None:
    alias = model_pb2.ModelAlias(
        name=f"models/{args.model}/aliases/{args.alias}",
        version=f"models/{args.model}/versions/{args.version}",
    )
    with connect(CliSettings()) as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        result = stub.SetModelAlias(registry_service_pb2.SetModelAliasRequest(alias=alias))
    emit(result, ALIAS_COLUMNS, args.output)


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    models = commands.add_parser("models", help="models and their versions").add_subparsers(
        dest="verb", required=True
    )

    create = models.add_parser("create", parents=[common], help="create a model")
    create.add_argument("model", help="model id (lower-case letters, digits, hyphens)")
    create.add_argument("--display-name", default="")
    create.add_argument("--description", default="")
    create.add_argument("--task", choices=_TASKS, default=None, help="what the model does")
    create.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    create.set_defaults(handler=_create)

    listing = models.add_parser("list", parents=[common], help="list models")
    listing.add_argument("--filter", default="", help='e.g. labels.team = "risk"')
    listing.set_defaults(handler=_list)

    get = models.add_parser("get", parents=[common], help="show a model and its versions")
    get.add_argument("model")
    get.set_defaults(handler=_get)

    delete = models.add_parser("delete", parents=[common], help="delete a model")
    delete.add_argument("model")
    delete.add_argument("--force", action="store_true", help="even while deployments use it")
    delete.set_defaults(handler=_delete)

    upload = models.add_parser("upload", parents=[common], help="upload an ONNX file as a new version")
    upload.add_argument("model")
    upload.add_argument("file")
    upload.add_argument("--description", default="")
    upload.set_defaults(handler=_upload)

    alias = commands.add_parser("alias", help="model aliases").add_subparsers(dest="verb", required=True)
    alias_set = alias.add_parser("set", parents=[common], help="point an alias at a version")
    alias_set.add_argument("model")
    alias_set.add_argument("alias")
    alias_set.add_argument("version", help="version number")
    alias_set.set_defaults(handler=_alias_set)
