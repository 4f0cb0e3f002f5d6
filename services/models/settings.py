"""Settings of the model management service (environment prefix ``AIPLAT_MODELS_``).

The shared fields (port, data directory, database URL, keys, ...) come from
:class:`services.runtime.settings.ServiceSettings`; list values are given
as JSON in the environment, e.g.
``AIPLAT_MODELS_IMPORT_URI_PREFIXES='["s3://ml-artifacts/incoming/"]'``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.models.sources import parse_location
from services.models.status import REPORT_LIFETIME
from services.runtime.settings import ServiceSettings

SERVICE_NAME = "models"


class ModelsSettings(ServiceSettings):
    """How the model management service is configured."""

    model_config = SettingsConfigDict(env_prefix="AIPLAT_MODELS_")

    artifact_url: str | None = None
    """Where artifacts are stored: a local directory or any fsspec URL (``s3://bucket/artifacts``);
    unset means the directory ``<data_dir>/artifacts``."""

    staging_dir: Path | None = None
    """Directory for uploads and imports in progress; unset means ``<data_dir>/staging``. On the same
    filesystem as a local artifact directory, storing a verified upload is a rename instead of a copy."""

    max_upload_bytes: int = Field(default=2 * 1024**3, gt=0)
    """Largest artifact accepted by an upload or an import, in bytes (2 GiB by default)."""

    import_uri_prefixes: tuple[str, ...] = ()
    """URI prefixes, besides the artifact storage itself, that ImportModelVersion may read from: absolute
    local paths or plain ``scheme://path`` URLs, without chaining (``::``) or relative segments."""

    watch_queue_size: int = Field(default=1024, ge=1, le=1_000_000)
    """Changes queued per WatchDeployments stream; a watcher further behind is disconnected."""

    watch_poll_seconds: float = Field(default=0.5, gt=0)
    """Seconds between reads of the store for deployment changes written by other processes of the
    service; how late their watchers may hear of such a change.  Changes written by this process
    reach its watchers at once."""

    replica_report_lifetime_seconds: float = Field(default=REPORT_LIFETIME.total_seconds(), gt=0)
    """How long an inference replica's status report counts without being renewed (replicas renew theirs
    every minute): a replica that went away stops counting towards its deployments' state this long
    after its last report, once another replica reports."""

    storage_retry_seconds: float = Field(default=5.0, gt=0)
    """Seconds between attempts to reach the store and the artifact storage while starting."""

    @field_validator("import_uri_prefixes")
    @classmethod
    def _plain_locations(cls, prefixes: tuple[str, ...]) -> tuple[str, ...]:
        # Refused at startup rather than by every import: a prefix that is no plain location matches nothing.
        for prefix in prefixes:
            parse_location(prefix)
        return prefixes

    def resolved_artifact_url(self) -> str:
        """``artifact_url``, or the ``artifacts`` directory in the data directory."""
        return self.artifact_url or str((self.data_dir / "artifacts").absolute())

    def resolved_staging_dir(self) -> Path:
        """``staging_dir``, or the ``staging`` directory in the data directory."""
        return self.staging_dir or self.data_dir / "staging"
