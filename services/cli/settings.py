"""Settings of the `aiplat` client commands."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints
from pydantic_settings import BaseSettings, SettingsConfigDict


class CliSettings(BaseSettings):
    """Where the client commands connect and with which token."""

    model_config = SettingsConfigDict(env_prefix="AIPLAT_")

    address: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = Field(
        default="127.0.0.1:8080", description="Gateway (or service) address, host:port."
    )
    token: str | None = Field(default=None, description="Bearer token; `aiplat token` mints one locally.")
    timeout_seconds: float = Field(default=30.0, gt=0, description="Deadline of each call, in seconds.")
    upload_timeout_seconds: float = Field(
        default=1800.0,
        gt=0,
        description="Deadline of `models upload`, in seconds: it streams the whole file in one call.",
    )
