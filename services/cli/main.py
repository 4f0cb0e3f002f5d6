"""The `aiplat` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import grpc
from pydantic import ValidationError
from pydantic_settings import SettingsError

from services.cli import deploy_commands, infer_command, models_commands
from services.cli.client import INTERRUPTED_STATUS, CommandError, describe_settings_error, report
from services.launcher.catalog import SERVICES
from services.launcher.output import OUTPUT_GONE_STATUS, discard_stdout
from services.launcher.settings import LauncherSettings
from services.runtime.devkeys import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    DEV_KEY_FILE,
    ensure_dev_keys,
    mint_token,
)

_ROLES = ("viewer", "editor", "admin")
_BAD_SETTINGS_STATUS = 2
"""Exit status for settings that cannot be used, as for bad command-line arguments."""


def _launcher_settings(args: argparse.Namespace) -> LauncherSettings:
    overrides = {
        key: value
        for key, value in {
            "data_dir": args.data_dir,
            "gateway_port": getattr(args, "gateway_port", None),
            "admin_port": getattr(args, "admin_port", None),
            "ephemeral_ports": getattr(args, "ephemeral_ports", None) or None,
            "replicas": _replicas(args),
        }.items()
        if value is not None
    }
    return LauncherSettings(**overrides)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _replicas(args: argparse.Namespace) -> dict[str, int] | None:
    count = getattr(args, "inference_replicas", None)
    return None if count is None else {"inference": count}


def _cmd_up(args: argparse.Namespace) -> int:
    from services.launcher.supervisor import up

    return up(_launcher_settings(args), SERVICES)


def _cmd_token(args: argparse.Namespace) -> int:
    roles = [role for chunk in args.roles for role in chunk.split(",") if role]
    unknown = sorted(set(roles) - set(_ROLES))
    if unknown:
        print(f"unknown role(s): {', '.join(unknown)}; choose from {', '.join(_ROLES)}", file=sys.stderr)
        return 2
    settings = _launcher_settings(args)
    keys_dir = settings.data_dir / "keys"
    created = not keys_dir.joinpath(DEV_KEY_FILE).exists()
    keys = ensure_dev_keys(keys_dir)
    if created:
        # Run in another folder than `aiplat up`, this makes a key that platform does not know.
        print(
            f"created a new signing key in {keys_dir.resolve()}: only a platform started with this "
            "data directory accepts the token",
            file=sys.stderr,
        )
    print(
        mint_token(
            keys,
            subject=args.subject,
            tenant=args.tenant,
            roles=roles,
            issuer=DEFAULT_ISSUER,
            audience=DEFAULT_AUDIENCE,
            ttl_seconds=args.ttl,
        )
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aiplat", description="Run and use the aiplat platform.")
    parser.add_argument("--data-dir", type=Path, default=None, help="state folder (default: .aiplat)")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start every service and the gateway on this machine")
    up.add_argument("--gateway-port", type=int, default=None, help="gateway port (default 8080; 0 picks one)")
    up.add_argument(
        "--admin-port", type=int, default=None, help="Envoy admin port (default 9901; 0 picks one)"
    )
    up.add_argument("--ephemeral-ports", action="store_true", help="let the OS pick the services' ports")
    up.add_argument(
        "--inference-replicas",
        type=_positive,
        default=None,
        help="inference processes behind the gateway (default 1)",
    )
    up.set_defaults(handler=_cmd_up)

    token = commands.add_parser("token", help="mint a development token signed with the local key")
    token.add_argument("--tenant", required=True, help="tenant the token acts for")
    token.add_argument(
        "--roles",
        action="append",
        default=[],
        required=True,
        help=f"comma-separated roles: {', '.join(_ROLES)}",
    )
    token.add_argument("--subject", default="dev-user", help="the `sub` claim (default: dev-user)")
    token.add_argument("--ttl", type=_positive, default=3600, help="lifetime in seconds (default 3600)")
    token.set_defaults(handler=_cmd_token)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-o", "--output", choices=["table", "json"], default="table", help="output format")
    for module in (models_commands, deploy_commands, infer_command):
        module.add_commands(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _run(argv)
    except BrokenPipeError:
        # The reader of the output has gone (`aiplat models list | head -1`): nothing left to tell.
        discard_stdout()
        return OUTPUT_GONE_STATUS


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in {"up", "token"}:
        try:
            status: int = args.handler(args)
        except ValidationError as error:
            print(describe_settings_error(error), file=sys.stderr)
            return _BAD_SETTINGS_STATUS
        except SettingsError as error:
            # A value that does not even parse (malformed JSON in AIPLAT_REPLICAS, say).
            print(f"aiplat {args.command}: {error}", file=sys.stderr)
            return _BAD_SETTINGS_STATUS
        return status
    try:
        args.handler(args)
    except KeyboardInterrupt:
        # Closing the channel on the way out cancels the call under way, an upload included.
        print("interrupted", file=sys.stderr)
        return INTERRUPTED_STATUS
    except BrokenPipeError:
        raise  # not a failure of the command: see main()
    except (grpc.RpcError, CommandError, OSError, ValueError) as error:
        return report(error)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
