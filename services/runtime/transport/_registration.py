"""Learn which services and methods a service's ``register`` callback adds.

create_server needs the names for health, reflection and checking
``method_roles``; the generated ``add_*_to_server`` functions only tell the
server object they are given, so they are given this stand-in.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import grpc

from services.runtime.auth import Role
from services.runtime.transport.methods import full_method, split_method

_log = logging.getLogger(__name__)


class RegistrationRecorder(grpc.aio.Server):
    """Passed to ``register`` in place of the server, to learn which services and methods it adds."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server
        self.methods: dict[str, set[str]] = {}

    def add_generic_rpc_handlers(
        self, generic_rpc_handlers: Iterable[grpc.GenericRpcHandler[Any, Any]]
    ) -> None:
        generic_rpc_handlers = list(generic_rpc_handlers)
        for handler in generic_rpc_handlers:
            if isinstance(handler, grpc.ServiceRpcHandler):
                self.methods.setdefault(handler.service_name(), set())
        self._server.add_generic_rpc_handlers(generic_rpc_handlers)

    def add_registered_method_handlers(self, service_name: str, method_handlers: Mapping[str, Any]) -> None:
        self.methods.setdefault(service_name, set()).update(method_handlers)
        self._server.add_registered_method_handlers(service_name, method_handlers)  # type: ignore[attr-defined]

    def add_insecure_port(self, address: str) -> int:
        raise TypeError("register() only adds servicers; create_server binds the port")

    def add_secure_port(self, address: str, server_credentials: grpc.ServerCredentials) -> int:
        raise TypeError("register() only adds servicers; create_server binds the port")

    async def start(self) -> None:
        raise TypeError("register() only adds servicers; the server is started by its handle")

    async def stop(self, grace: float | None = None) -> None:
        raise TypeError("register() only adds servicers; the server is stopped by its handle")

    async def wait_for_termination(self, timeout: float | None = None) -> bool:
        raise TypeError("register() only adds servicers")


def check_method_roles(
    recorded: Mapping[str, set[str]], method_roles: Mapping[str, Role], public_methods: Collection[str] = ()
) -> None:
    """Refuse roles (and public methods) the server lacks; warn about methods that declare neither."""
    known = {full_method(service, method) for service, methods in recorded.items() for method in methods}
    # Services added through a bare generic handler do not list their methods; accept any of theirs.
    opaque = {service for service, methods in recorded.items() if not methods}
    unknown = sorted(
        name
        for name in {*method_roles, *public_methods}
        if name not in known and split_method(name)[0] not in opaque
    )
    if unknown:
        # A typo or a stale entry would otherwise silently leave a method at the default.
        raise ValueError(f"method_roles names methods the server does not have: {unknown}")
    undeclared = sorted(known - set(method_roles) - set(public_methods))
    if undeclared:
        _log.warning(
            "%d methods declare no role and need admin", len(undeclared), extra={"methods": undeclared}
        )
