"""Settings every service shares; each service subclasses them with its own env prefix.

This is the only place that reads the environment.  A service declares::

    class ModelsSettings(ServiceSettings):
        model_config = SettingsConfigDict(env_prefix="AIPLAT_MODELS_")

and reads ``AIPLAT_MODELS_PORT``, ``AIPLAT_MODELS_JWKS_PATH`` and so on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.runtime.devkeys import DEFAULT_AUDIENCE, DEFAULT_ISSUER

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


def _package_version() -> str:
    try:
        return metadata.version("aiplat")
    except metadata.PackageNotFoundError:
        return "0.0.0+unknown"


def _default_data_dir() -> Path:
    # Resolved when the settings are built, so a later chdir does not move the data.
    return Path.cwd() / ".aiplat"


DEFAULT_MAX_MESSAGE_MIB = 16
"""gRPC's 4 MiB default is too tight for 4 MiB upload chunks plus their envelope."""


class ServiceSettings(BaseSettings):
    """What every aiplat service process is configured with."""

    model_config = SettingsConfigDict(
        env_prefix="AIPLAT_",
        extra="ignore",
        frozen=True,
        use_attribute_docstrings=True,
        # Lets tests and launchers pass ``otlp_endpoint=`` although its env name is an alias.
        validate_by_name=True,
        validate_by_alias=True,
    )

    host: str = "127.0.0.1"
    """Address the gRPC and metrics servers bind to; loopback by default, ``0.0.0.0`` in containers."""

    port: int = Field(default=0, ge=0, le=65535)
    """gRPC port; 0 lets the OS pick one, which is then logged in the ``serving`` line."""

    metrics_port: int = Field(default=0, ge=-1, le=65535)
    """Port of the Prometheus ``/metrics`` HTTP endpoint; 0 lets the OS pick one, -1 disables it."""

    data_dir: Path = Field(default_factory=_default_data_dir)
    """Directory for local state (SQLite files, artifacts, development keys); ``./.aiplat`` by default."""

    max_message_mib: int = Field(default=DEFAULT_MAX_MESSAGE_MIB, ge=1, le=2047)
    """Largest gRPC message the service takes or sends, in MiB; a larger one gets ``RESOURCE_EXHAUSTED``."""

    database_url: str | None = None
    """SQLAlchemy URL of the service's store (``postgresql+psycopg://...`` in production);
    unset means the SQLite file ``<data_dir>/<service>.db``."""

    jwks_path: Path | None = None
    """Local JWKS file with the token signing keys; re-read when it changes. Exclusive with jwks_url."""

    jwks_url: str | None = None
    """HTTPS address of the identity provider's JWKS; refreshed periodically. Exclusive with jwks_path."""

    jwt_issuer: str = DEFAULT_ISSUER
    """Required ``iss`` claim of access tokens."""

    jwt_audience: str = DEFAULT_AUDIENCE
    """Required ``aud`` claim of access tokens."""

    auth_required: bool = True
    """Reject calls without a token. Only for isolated local tests may this be false: calls without a
    token then run as an anonymous admin of the ``default`` tenant (tokens that are sent are still
    verified)."""

    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    """On SIGTERM, how long in-flight calls may run before they are cancelled, in seconds."""

    peer_ping_timeout_seconds: float = Field(default=10.0, ge=1.0, le=600.0)
    """How long a client may leave an HTTP/2 ping unanswered before its connection is closed, in
    seconds.  A client that stopped reading (a stalled watcher) answers none: this bounds how long it
    holds its stream, its queued messages and, at shutdown, the server (gRPC's own 20 s otherwise)."""

    client_timeout_seconds: float = Field(default=10.0, gt=0)
    """Default deadline of calls to other services, in seconds (capped by the incoming call's deadline)."""

    log_level: LogLevel = "INFO"
    """Minimum level of the JSON log lines written to stdout."""

    otlp_endpoint: str | None = Field(default=None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    """OTLP/gRPC collector address (``http://collector:4317``), read from the standard
    ``OTEL_EXPORTER_OTLP_ENDPOINT``; unset means spans are created for propagation but not exported."""

    reflect_services: tuple[str, ...] = ()
    """Fully-qualified gRPC services of other processes that this one describes through server
    reflection too; the launcher sets it on the service that answers the gateway's reflection."""

    service_version: str = Field(default_factory=_package_version)
    """Version reported as ``service.version`` in traces; the installed package version by default."""

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("jwks_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("jwks_url must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> Self:
        if self.jwks_path is not None and self.jwks_url is not None:
            raise ValueError("set either jwks_path or jwks_url, not both")
        # Fail at startup rather than reject every call later with a less obvious error.
        if self.auth_required and self.jwks_path is None and self.jwks_url is None:
            raise ValueError("auth_required needs jwks_path or jwks_url")
        return self

    @property
    def metrics_enabled(self) -> bool:
        """Whether the Prometheus endpoint is served at all."""
        return self.metrics_port >= 0

    def max_message_bytes(self) -> int:
        """``max_message_mib`` in bytes."""
        return self.max_message_mib * 1024**2

    def resolved_database_url(self, service_name: str) -> str:
        """``database_url``, or the default SQLite file of ``service_name`` in the data directory."""
        if not _SERVICE_NAME.fullmatch(service_name):
            raise ValueError(f"service name must be lower-case letters, digits and '-': {service_name!r}")
        if self.database_url is not None:
            return self.database_url
        return f"sqlite:///{(self.data_dir / f'{service_name}.db').absolute()}"

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Settings get logged; a password inside the database URL must not be.
        for name, value in super().__repr_args__():
            if name == "database_url" and isinstance(value, str):
                value = _URL_PASSWORD.sub(r"\1***@", value)
            yield name, value
