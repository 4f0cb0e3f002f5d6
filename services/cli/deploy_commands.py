"""`aiplat deploy ...`: deployments and their traffic splits."""

from __future__ import annotations

import argparse

from google.protobuf import field_mask_pb2

from aiplat.models.v1 import deployment_pb2, deployment_service_pb2, deployment_service_pb2_grpc
from services.cli.client import LIST_PAGE_SIZE, CommandError, connect, every_page
from services.cli.output import Column, emit
from services.cli.settings import CliSettings

DEPLOYMENT_COLUMNS: list[Column] = [
    ("name", lambda d: d.name),
    ("model", lambda d: d.model),
    ("traffic", lambda d: " ".join(f"v{t.version.rsplit('/', 1)[-1]}={t.percent}%" for t in d.traffic)),
    ("state", lambda d: deployment_pb2.DeploymentState.Name(d.state).removeprefix("DEPLOYMENT_STATE_")),
    ("loaded", lambda d: " ".join(f"v{v.version.rsplit('/', 1)[-1]}@{v.device}" for v in d.loaded_versions)),
    ("generation", lambda d: d.generation),
]


def _traffic(model: str, pairs: list[str]) -> list[deployment_pb2.TrafficTarget]:
    targets = []
    for pair in pairs:
        version, _, percent = pair.partition("=")
        if not percent.isdigit():
            raise CommandError(f"traffic {pair!r}: expected VERSION=PERCENT, e.g. 1=90")
        targets.append(
            deployment_pb2.TrafficTarget(version=f"{model}/versions/{version}", percent=int(percent))
        )
    return targets


def _create(args: argparse.Namespace) -> None:
    model = f"models/{args.model}"
    deployment = deployment_pb2.Deployment(
        model=model,
        traffic=_traffic(model, args.traffic),
        instances_per_version=args.instances,
        batching=deployment_pb2.BatchingConfig(
            max_batch_size=args.max_batch_size,
            max_queue_delay_micros=args.max_queue_delay_us,
            max_queue_size=args.max_queue_size,
            hold_lone_requests=args.hold_lone_requests,
        ),
        execution=deployment_pb2.ExecutionConfig(
            device=f"EXECUTION_DEVICE_{args.device.upper()}", allow_spinning=args.allow_spinning
        ),
    )
    with connect(CliSettings()) as (channel, metadata):
        stub = deployment_service_pb2_grpc.DeploymentServiceStub(channel)
        created = stub.CreateDeployment(
            deployment_service_pb2.CreateDeploymentRequest(
                deployment=deployment, deployment_id=args.deployment
            ),
            metadata=metadata,
        )
    emit(created, DEPLOYMENT_COLUMNS, args.output)


def _list(args: argparse.Namespace) -> None:
    with connect(CliSettings()) as (channel, metadata):
        stub = deployment_service_pb2_grpc.DeploymentServiceStub(channel)
        pages = every_page(
            lambda token: stub.ListDeployments(
                deployment_service_pb2.ListDeploymentsRequest(page_token=token, page_size=LIST_PAGE_SIZE),
                metadata=metadata,
            )
        )
        deployments = [deployment for page in pages for deployment in page.deployments]
    emit(deployments, DEPLOYMENT_COLUMNS, args.output)


def _get(args: argparse.Namespace) -> None:
    with connect(CliSettings()) as (channel, metadata):
        stub = deployment_service_pb2_grpc.DeploymentServiceStub(channel)
        found = stub.GetDeployment(
            deployment_service_pb2.GetDeploymentRequest(name=f"deployments/{args.deployment}"),
            metadata=metadata,
        )
    emit(found, DEPLOYMENT_COLUMNS, args.output)


def _set_traffic(args: argparse.Namespace) -> None:
    name = f"deployments/{args.deployment}"
    with connect(CliSettings()) as (channel, metadata):
        stub = deployment_service_pb2_grpc.DeploymentServiceStub(channel)
        current = stub.GetDeployment(
            deployment_service_pb2.GetDeploymentRequest(name=name), metadata=metadata
        )
        change = deployment_pb2.Deployment(name=name, traffic=_traffic(current.model, args.traffic))
        updated = stub.UpdateDeployment(
            deployment_service_pb2.UpdateDeploymentRequest(
                deployment=change, update_mask=field_mask_pb2.FieldMask(paths=["traffic"])
            ),
            metadata=metadata,
        )
    emit(updated, DEPLOYMENT_COLUMNS, args.output)


def _rollback(args: argparse.Namespace) -> None:
    with connect(CliSettings()) as (channel, metadata):
        stub = deployment_service_pb2_grpc.DeploymentServiceStub(channel)
        restored = stub.RollbackDeployment(
            deployment_service_pb2.RollbackDeploymentRequest(name=f"deployments/{args.deployment}"),
            metadata=metadata,
        )
    emit(restored, DEPLOYMENT_COLUMNS, args.output)


def _delete(args: argparse.Namespace) -> None:
    with connect(CliSettings()) as (channel, metadata):
        stub = deployment_service_pb2_grpc.DeploymentServiceStub(channel)
        stub.DeleteDeployment(
            deployment_service_pb2.DeleteDeploymentRequest(name=f"deployments/{args.deployment}"),
            metadata=metadata,
        )
    print(f"deleted deployments/{args.deployment}")


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    deploy = commands.add_parser("deploy", help="deployments").add_subparsers(dest="verb", required=True)

    create = deploy.add_parser("create", parents=[common], help="deploy a model")
    create.add_argument("deployment", help="deployment id, also the inference model_name")
    create.add_argument("--model", required=True, help="model id")
    create.add_argument("--traffic", nargs="+", required=True, metavar="VERSION=PERCENT")
    create.add_argument("--instances", type=int, default=1, help="instances per version")
    create.add_argument("--max-batch-size", type=int, default=1)
    create.add_argument("--max-queue-delay-us", type=int, default=0)
    create.add_argument("--max-queue-size", type=int, default=1024)
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
