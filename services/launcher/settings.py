"""Settings of `aiplat up`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LauncherSettings(BaseSettings):
    """Where the one-machine platform keeps its state and listens."""

    model_config = SettingsConfigDict(env_prefix="AIPLAT_")

    data_dir: Path = Field(
        default=Path(".aiplat"), description="Stores, artifacts, keys and rendered config."
    )
    host: str = Field(default="127.0.0.1", description="Address services and the gateway listen on.")
    gateway_port: int = Field(default=8080, description="Envoy listener port for gRPC and REST; 0 picks one.")
    admin_port: int = Field(default=9901, description="Envoy admin port (loopback only); 0 picks one.")
    ephemeral_ports: bool = Field(
        default=False, description="Start services on ports the OS picks instead of the catalogue's."
    )
    startup_timeout_seconds: float = Field(default=60.0, description="How long a service may take to serve.")
    shutdown_grace_seconds: float = Field(
        default=15.0, description="How long services get to drain after SIGTERM before they are killed."
    )
