"""`aiplat deploy ...`: deployments and their traffic splits."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable

from google.protobuf import field_mask_pb2

from aiplat.models.v1 import deployment_pb2, deployment_service_pb2, deployment_service_pb2_grpc
from services.cli.client import LIST_PAGE_SIZE, CommandError, connect, every_page
from services.cli.output import Column, emit, emit_deleted
from services.cli.settings import CliSettings

DEPLOYMENT_COLUMNS: list[Column] = [
    ("name", lambda d: d.name),
    ("model", lambda d: d.model),
    ("traffic", lambda d: " ".join(f"v{t.version.rsplit('/', 1)[-1]}={t.percent}%" for t in d.traffic)),
    ("state", lambda d: deployment_pb2.DeploymentState.Name(d.state).removeprefix("DEPLOYMENT_STATE_")),
    ("loaded", lambda d: " ".join(f"v{v.version.rsplit('/', 1)[-1]}@{v.device}" for v in d.loaded_versions)),
    ("generation", lambda d: d.generation),
]
_TRAFFIC_PAIR = re.compile(r"([^=]+)=([0-9]{1,3})", re.ASCII)


def _split(pairs: list[str]) -> list[tuple[str, int]]:
    """The VERSION=PERCENT pairs of a split, refused before any call when malformed."""
    split = []
    for pair in pairs:
        # The server checks the split; this keeps each percent encodable, since protobuf refuses
        # an out-of-range value with a message that names no field.
        match = _TRAFFIC_PAIR.fullmatch(pair)
        if match is None or int(match[2]) > 100:
            raise CommandError(f"traffic {pair!r}: expected VERSION=PERCENT with PERCENT 0-100, e.g. 1=90")
        split.append((match[1], int(match[2])))
    return split


def _traffic(model: str, split: list[tuple[str, int]]) -> list[deployment_pb2.TrafficTarget]:
    return [
        deployment_pb2.TrafficTarget(version=f"{model}/versions/{version}", percent=percent)
        for version, percent in split
    ]


def _integer(bits: int) -> Callable[[str], int]:
    """An argument type for an int32 or int64 field.

    A value out of range would otherwise fail in protobuf with a message that
    names no option; argparse names it.
    """
    limit = 2 ** (bits - 1)

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not -limit <= value < limit:
            raise argparse.ArgumentTypeError(f"{value} is out of range")
        return value

    return parse


def _create(args: argparse.Namespace) -> None:
    model = f"models/{args.model}"
    deployment = deployment_pb2.Deployment(
        model=model,
        traffic=_traffic(model, _split(args.traffic)),
        instances_per_version=args.instances,
        batching=deployment_pb2.BatchingConfig(
            max_batch_size=args.max_batch_size,
            max_queue_delay_micros=args.max_queue_delay_us,
            max_queue_size=args.max_queue_size,
            hold_lone_requests=args.hold_lone_requests,
        ),
        execution=deployment_pb2.ExecutionConfig(
            device=f"EXECUTION_DEVICE_{args.device.upper()}",
            allow_spinning=args.allow_spinning,
            allow_tf32=args.allow_tf32,
        ),
    )
    with connect(CliSettings()) as channel:
        stub = deployment_service_pb2_grpc.DeploymentServiceStub(channel)
        created = stub.CreateDeployment(
            deployment_service_pb2.CreateDeploymentRequest(
                deployment=deployment, deployment_id=args.deployment
            ),
        )
    emit(created, DEPLOYMENT_COLUMNS, args.output)


def _list(args: argparse.Namespace) -> None:
    with connect(CliSettings()) as channel:
        stub = deployment_service_pb2_grpc.DeploymentServiceStub(channel)
        pages = every_page(
            lambda token: stub.ListDeployments(
                deployment_service_pb2.ListDeploymentsRequest(page_token=token, page_size=LIST_PAGE_SIZE),
            )
        )
        deployments = [deployment for page in pages for deployment in page.deployments]
    emit(deployments, DEPLOYMENT_COLUMNS, args.output)


def _get(args: argparse.Namespace) -> None:
    with connect(CliSettings()) as channel:
        stub = deployment_service_pb2_grpc.DeploymentServiceStub(channel)
        found = stub.GetDeployment(
            deployment_service_pb2.GetDeploymentRequest(name=f"deployments/{args.deployment}"),
        )
    emit(found, DEPLOYMENT_COLUMNS, args.output)


def _set_traffic(args: argparse.Namespace) -> None:
    name = f"deployments/{args.deployment}"
    split = _split(args.traffic)
    with connect(CliSettings()) as channel:
        stub = deployment_service_pb2_grpc.DeploymentServiceStub(channel)
        current = stub.GetDeployment(deployment_service_pb2.GetDeploymentRequest(name=name))
        change = deployment_pb2.Deployment(name=name, traffic=_traffic(current.model, split))
        updated = stub.UpdateDeployment(
            deployment_service_pb2.UpdateDeploymentRequest(
                deployment=change, update_mask=field_mask_pb2.FieldMask(paths=["traffic"])
            ),
        )
    emit(updated, DEPLOYMENT_COLUMNS, args.output)


def _rollback(args: argparse.Namespace) -> None:
    with connect(CliSettings()) as channel:
        stub = deployment_service_pb2_grpc.DeploymentServiceStub(channel)
        restored = stub.RollbackDeployment(
            deployment_service_pb2.RollbackDeploymentRequest(name=f"deployments/{args.deployment}"),
        )
    emit(restored, DEPLOYMENT_COLUMNS, args.output)


def _delete(args: argparse.Namespace) -> None:
    with connect(CliSettings()) as channel:
        stub = deployment_service_pb2_grpc.DeploymentServiceStub(channel)
        stub.DeleteDeployment(
            deployment_service_pb2.DeleteDeploymentRequest(name=f"deployments/{args.deployment}"),
        )
    emit_deleted(f"deployments/{args.deployment}", args.output)


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    deploy = commands.add_parser("deploy", help="deployments").add_subparsers(dest="verb", required=True)

    create = deploy.add_parser("create", parents=[common], help="deploy a model")
    create.add_argument("deployment", help="deployment id, also the inference model_name")
    create.add_argument("--model", required=True, help="model id")
    create.add_argument("--traffic", nargs="+", required=True, metavar="VERSION=PERCENT")
    create.add_argument("--instances", type=_integer(32), default=1, help="instances per version")
    create.add_argument("--max-batch-size", type=_integer(32), default=1)
    create.add_argument("--max-queue-delay-us", type=_integer(64), default=0)
    create.add_argument("--max-queue-size", type=_integer(32), default=1024)
    create.add_argument(
        "--hold-lone-requests",
        action="store_true",
        help="make a request that finds the model idle wait the queue delay too, in case others come",
    )
    create.add_argument("--device", choices=["cpu", "gpu", "unspecified"], default="unspecified")
    create.add_argument(
        "--allow-spinning",
        action="store_true",
        help="let idle ONNX Runtime threads spin: lower latency with spare cores, less throughput when busy",
    )
    create.add_argument(
        "--allow-tf32",
        action="store_true",
        help="let CUDA compute float32 products in TensorFloat-32: faster, about three significant digits",
    )
    create.set_defaults(handler=_create)

    deploy.add_parser("list", parents=[common], help="list deployments").set_defaults(handler=_list)

    for verb, handler, text in (
        ("get", _get, "show a deployment"),
        ("rollback", _rollback, "restore the previous traffic split"),
        ("delete", _delete, "delete a deployment"),
    ):
        command = deploy.add_parser(verb, parents=[common], help=text)
        command.add_argument("deployment")
        command.set_defaults(handler=handler)

    traffic = deploy.add_parser("set-traffic", parents=[common], help="change the traffic split")
    traffic.add_argument("deployment")
    traffic.add_argument("traffic", nargs="+", metavar="VERSION=PERCENT")
    traffic.set_defaults(handler=_set_traffic)
