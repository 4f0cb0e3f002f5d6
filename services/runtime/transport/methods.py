"""Names of gRPC methods, and the services every server exposes without a token."""

from __future__ import annotations

PUBLIC_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)
"""Callable without a token, untraced: probes and tools must work before anyone logs in."""


def split_method(full_method: str) -> tuple[str, str]:
    """``("pkg.Service", "Method")`` of ``/pkg.Service/Method``."""
    service, _, method = full_method.lstrip("/").partition("/")
    return service, method


def full_method(service: str, method: str) -> str:
    """``/pkg.Service/Method``: how interceptors and ``method_roles`` name a method."""
    return f"/{service}/{method}"


def is_public(full_method_name: str) -> bool:
    """Whether the method belongs to a :data:`PUBLIC_SERVICES` service."""
    return split_method(full_method_name)[0] in PUBLIC_SERVICES
