"""Settings of `aiplat up` and of the gateway configuration it renders."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.launcher.catalog import SERVICES
from services.runtime.machine import usable_cores
from services.runtime.server import DEFAULT_MAX_MESSAGE_BYTES


class TenantRateLimits(BaseModel):
    """A tenant's own bucket sizes; what is left out keeps the default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    control_plane_requests_per_second: float | None = Field(default=None, gt=0)
    control_plane_burst: int | None = Field(default=None, ge=1)
    inference_requests_per_second: float | None = Field(default=None, gt=0)
    inference_burst: int | None = Field(default=None, ge=1)


class LauncherSettings(BaseSettings):
    """Where the one-machine platform keeps its state and listens, and how its gateway is sized."""

    model_config = SettingsConfigDict(env_prefix="AIPLAT_", validate_by_name=True, validate_by_alias=True)

    data_dir: Path = Field(
        default=Path(".aiplat"), description="Stores, artifacts, keys and rendered config."
    )
    host: str = Field(default="127.0.0.1", description="Address services and the gateway listen on.")
    gateway_port: int = Field(
        default=8080, ge=0, le=65535, description="Envoy listener port for gRPC and REST; 0 picks one."
    )
    admin_port: int = Field(
        default=9901, ge=0, le=65535, description="Envoy admin port (loopback only); 0 picks one."
    )
    ephemeral_ports: bool = Field(
        default=False, description="Start services on ports the OS picks instead of the catalogue's."
    )
    replicas: dict[str, int] = Field(
        default_factory=dict,
        description='Processes per service as JSON ({"inference": 2}); a service left out runs one. '
        "Only services that scale out may run more than one.",
    )
    gateway_workers: int | None = Field(
        default=None,
        ge=1,
        description="Envoy worker threads; unset: one per four cores, at least one. On one machine the "
        "gateway shares the cores with every service, and each worker more than it needs costs CPU per call.",
    )
    startup_timeout_seconds: float = Field(
        default=60.0, gt=0, description="How long a service may take to serve."
    )
    shutdown_grace_seconds: float = Field(
        default=15.0, ge=0, description="How long services get to drain after SIGTERM before they are killed."
    )

    control_plane_requests_per_second: float = Field(
        default=50.0, gt=0, description="Sustained management calls per second a tenant may make."
    )
    control_plane_burst: int = Field(
        default=100, ge=1, description="Management calls a tenant may make at once above the sustained rate."
    )
    inference_requests_per_second: float = Field(
        default=1000.0, gt=0, description="Sustained inference calls per second a tenant may make."
    )
    inference_burst: int = Field(
        default=2000, ge=1, description="Inference calls a tenant may make at once above the sustained rate."
    )
    untenanted_requests_per_second: float = Field(
        default=20.0, gt=0, description="Calls per second, shared, without a tenant (health probes)."
    )
    untenanted_burst: int = Field(default=50, ge=1, description="Burst of the calls without a tenant.")
    tenant_rate_limits: dict[str, TenantRateLimits] = Field(
        default_factory=dict,
        description='Per-tenant bucket sizes as JSON: {"acme": {"inference_requests_per_second": 5000}}.',
    )
    expected_tenants: int = Field(
        default=1000,
        ge=1,
        description="Tenants expected at once; the gateway tracks twice as many buckets per traffic class.",
    )
    max_request_body_bytes: int = Field(
        default=DEFAULT_MAX_MESSAGE_BYTES,
        ge=1,
        lt=2**32,
        description="Largest REST request body; larger ones get 413. The default is the services' default "
        "largest message; the inference service takes four times as much, what such a body decodes to at "
        "most (FP64 contents), so a REST body within the limit is never refused upstream.",
    )
    max_response_body_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1, description="Largest REST response body the gateway converts."
    )
    unary_timeout_seconds: float = Field(
        default=60.0, gt=0, description="How long a call without a stream may take through the gateway."
    )
    stream_idle_timeout_seconds: float = Field(
        default=3600.0, gt=0, description="How long a stream may stay silent through the gateway."
    )
    otlp_endpoint: str | None = Field(
        default=None,
        validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT",
        description="OTLP/gRPC collector (http://collector:4317) for the gateway's spans; unset: none.",
    )
    ingress_host: str = Field(
        default="aiplat.internal",
        description="Cluster deployment: the host name clients call, served by Istio's ingress gateway.",
    )
    idp_issuer: str = Field(
        default="https://identity.aiplat.internal",
        description="Cluster deployment: the `iss` of the identity provider's tokens.",
    )
    idp_audience: str = Field(default="aiplat", description="Cluster deployment: the required `aud`.")
    idp_jwks_url: str = Field(
        default="https://identity.aiplat.internal/.well-known/jwks.json",
        description="Cluster deployment: where the gateway fetches the identity provider's signing keys.",
    )
    cluster_inference_cache_gib: int = Field(
        default=8,
        ge=1,
        description="Cluster deployment: the size limit of an inference pod's cache of verified model "
        "artifacts (an emptyDir on its node's disk), in GiB; the pod requests that much ephemeral storage. "
        "The pod keeps its cached artifacts 2 GiB below it (AIPLAT_INFERENCE_CACHE_LIMIT_GIB; half of it "
        "under 4 GiB), room for a download in progress, evicting those no loaded version needs: size it for "
        "the ONNX files of every version served at once plus the one replacing them (an upload is at most "
        "AIPLAT_MODELS_MAX_UPLOAD_BYTES, 2 GiB).",
    )
    cluster_upload_staging_gib: int = Field(
        default=4,
        ge=1,
        description="Cluster deployment: the size limit of a model management pod's directory of uploads "
        "and imports in progress (an emptyDir), in GiB; each takes up to AIPLAT_MODELS_MAX_UPLOAD_BYTES "
        "(2 GiB) until it is stored, so the default holds two of the largest at once per replica.",
    )

    @field_validator("replicas")
    @classmethod
    def _only_services_that_scale_out(cls, replicas: dict[str, int]) -> dict[str, int]:
        known = {spec.name for spec in SERVICES}
        scalable = {spec.name for spec in SERVICES if spec.scales_out}
        for name, count in replicas.items():
            if name not in known:
                raise ValueError(f"unknown service {name!r} (known: {', '.join(sorted(known))})")
            if count < 1:
                raise ValueError(f"replicas of {name!r} must be at least 1, not {count}")
            if count > 1 and name not in scalable:
                allowed = ", ".join(sorted(scalable)) or "none"
                raise ValueError(f"{name!r} runs as one process; services that scale out: {allowed}")
        return replicas

    def gateway_worker_threads(self) -> int:
        """Envoy's ``--concurrency``: the setting, else a quarter of this machine's cores."""
        if self.gateway_workers is not None:
            return self.gateway_workers
        return max(1, usable_cores() // 4)

    def replicas_of(self, service: str) -> int:
        """How many processes of ``service`` to start."""
        return self.replicas.get(service, 1)
