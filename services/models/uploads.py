"""Uploading a version's artifact as a stream of chunks.

The bytes go to a temporary file in the staging directory while their
SHA-256 and size are computed; only a file that has exactly the declared
size and checksum and passes the ONNX checker is moved into artifact
storage, and only then is the version row written.  Any failure (a
truncated or cancelled stream, a checksum mismatch, a file that is not
ONNX, an upload over the size limit) leaves neither a row nor a file.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sqlalchemy.orm import Session

from services.models import errors, names
from services.models.artifact_refs import ArtifactReferences
from services.models.clock import Clock, utcnow
from services.models.domain import ModelVersion, VersionFields
from services.models.enums import ArtifactFormat, VersionState
from services.models.onnx_inspect import OnnxInfo, inspect_onnx
from services.models.staging import ArtifactWriter, check_size_limit, open_staging_file
from services.models.store import models as model_rows
from services.models.store import versions
from services.models.validation import (
    MAX_DESCRIPTION,
    Violations,
    check_labels,
    check_metrics,
    check_sha256,
    check_text,
    check_training_job,
)
from services.runtime.auth import current_identity
from services.runtime.store import Database


@dataclass(frozen=True)
class UploadMetadata:
    """The first message of an upload."""

    parent: str
    sha256: str
    size_bytes: int
    fields: VersionFields = field(default_factory=VersionFields)


def check_version_fields(violations: Violations, prefix: str, fields: VersionFields) -> None:
    check_text(violations, f"{prefix}.description", fields.description, MAX_DESCRIPTION)
    check_labels(violations, f"{prefix}.labels", fields.labels)
    check_metrics(violations, f"{prefix}.metrics", fields.metrics)
    check_training_job(violations, f"{prefix}.source_training_job", fields.source_training_job)


def new_version(model_id: str, number: int, fields: VersionFields, *, creator: str) -> ModelVersion:
    """A version row to insert, with the client's fields; the caller adds what it knows of the artifact."""
    return ModelVersion(
        model_id=model_id,
        version=number,
        description=fields.description,
        labels=dict(fields.labels),
        metrics=dict(fields.metrics),
        source_training_job=fields.source_training_job,
        creator=creator,
    )


class Uploads:
    """UploadModelVersion: stream, verify, inspect, store, then commit the version."""

    def __init__(
        self,
        db: Database,
        artifacts: ArtifactReferences,
        *,
        staging_dir: Path,
        max_bytes: int,
        clock: Clock = utcnow,
    ) -> None:
        self._db = db
        self._artifacts = artifacts
        self._staging_dir = staging_dir
        self._max_bytes = max_bytes
        self._clock = clock

    def __repr__(self) -> str:
        return f"Uploads(staging_dir={str(self._staging_dir)!r}, max_bytes={self._max_bytes})"

    def _check(self, metadata: UploadMetadata) -> str:
        model_id = names.parse_model_name(metadata.parent, "metadata.parent")
        violations = Violations()
        check_sha256(violations, "metadata.sha256", metadata.sha256)
        if metadata.size_bytes <= 0:
            violations.add("metadata.size_bytes", "must be the positive size of the file in bytes")
        check_version_fields(violations, "metadata.model_version", metadata.fields)
        violations.raise_if_any()
        check_size_limit(metadata.size_bytes, self._max_bytes, "metadata.size_bytes")
        return model_id

    async def upload(self, metadata: UploadMetadata, chunks: AsyncIterator[bytes]) -> ModelVersion:
        """Receive ``chunks`` as the artifact described by ``metadata`` and create its version."""
        model_id = self._check(metadata)
        identity = current_identity()
        tenant = identity.tenant
        # Fail before receiving gigabytes for a model that does not exist.
        await self._db.read(lambda session: model_rows.get(session, tenant, model_id))
        out, path = await open_staging_file(self._staging_dir, "upload-")
        handed_over = False
        try:
            with out:
                await self._receive(metadata, chunks, out)
            info = await asyncio.to_thread(inspect_onnx, path)

            async def commit(uri: str) -> ModelVersion:
                return await self._db.write(
                    lambda session: self._insert(
                        session, tenant, identity.subject, model_id, metadata, uri, info
                    )
                )

            handed_over = True
            return await self._artifacts.store(path, metadata.sha256, commit)
        except OSError as error:
            if (full := errors.storage_full(error)) is not None:
                raise full from error
            raise
        finally:
            if not handed_over:
                path.unlink(missing_ok=True)

    async def _receive(self, metadata: UploadMetadata, chunks: AsyncIterator[bytes], out: IO[bytes]) -> None:
        writer = ArtifactWriter(
            out, sha256=metadata.sha256, size_bytes=metadata.size_bytes, max_bytes=self._max_bytes
        )
        async for chunk in chunks:
            await writer.write(chunk)
        await writer.finish()

    def _insert(
        self,
        session: Session,
        tenant: str,
        creator: str,
        model_id: str,
        metadata: UploadMetadata,
        uri: str,
        info: OnnxInfo,
    ) -> ModelVersion:
        now = self._clock()
        number = model_rows.allocate_version(session, tenant, model_id, now)
        version = dataclasses.replace(
            new_version(model_id, number, metadata.fields, creator=creator),
            state=VersionState.READY,
            artifact_uri=uri,
            sha256=metadata.sha256,
            size_bytes=metadata.size_bytes,
            format=ArtifactFormat.ONNX,
            onnx_opset=info.opset,
            inputs=info.inputs,
            outputs=info.outputs,
        )
        return versions.insert(session, tenant, version, now)
