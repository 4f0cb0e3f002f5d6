"""Rows of the ``model_versions`` and ``model_aliases`` tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.models import errors, filtering
from services.models.domain import ModelAlias, ModelVersion, TensorSignature
from services.models.enums import ArtifactFormat, TensorType, VersionState
from services.models.store import query
from services.models.store.tables import model_aliases, model_versions

FILTER_FIELDS = {
    "state": filtering.FieldSpec("enum", VersionState, "MODEL_VERSION_STATE_"),
    "labels": filtering.FieldSpec("labels"),
}
_FILTER_COLUMNS = {"state": model_versions.c.state, "labels": model_versions.c.labels}


def signatures_to_json(signatures: Sequence[TensorSignature]) -> list[dict[str, Any]]:
    return [{"name": s.name, "data_type": s.data_type.value, "dims": list(s.dims)} for s in signatures]


def _signatures(data: Sequence[Mapping[str, Any]]) -> tuple[TensorSignature, ...]:
    return tuple(TensorSignature(d["name"], TensorType(d["data_type"]), tuple(d["dims"])) for d in data)


def _columns(values: Mapping[str, Any]) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for key, value in values.items():
        if key in ("inputs", "outputs"):
            columns[key] = signatures_to_json(value)
        elif isinstance(value, VersionState | ArtifactFormat):
            columns[key] = value.value
        elif isinstance(value, Mapping):
            columns[key] = dict(value)
        else:
            columns[key] = value
    return columns


def _version(row: sa.Row[Any], aliases: Sequence[str]) -> ModelVersion:
    return ModelVersion(
        model_id=row.model_id,
        version=int(row.version),
        description=row.description,
        artifact_uri=row.artifact_uri,
        sha256=row.sha256,
        size_bytes=int(row.size_bytes),
        format=ArtifactFormat(row.format),
        onnx_opset=int(row.onnx_opset),
        inputs=_signatures(row.inputs),
        outputs=_signatures(row.outputs),
        metrics=dict(row.metrics),
        source_training_job=row.source_training_job,
        state=VersionState(row.state),
        state_message=row.state_message,
        labels=dict(row.labels),
        aliases=tuple(sorted(aliases)),
        creator=row.creator,
        create_time=row.create_time,
        update_time=row.update_time,
    )


def _key(tenant: str, model_id: str, number: int) -> sa.ColumnElement[bool]:
    return sa.and_(
        model_versions.c.tenant == tenant,
        model_versions.c.model_id == model_id,
        model_versions.c.version == number,
    )


def _alias_names(
    session: Session, tenant: str, model_id: str, numbers: Sequence[int]
) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {number: [] for number in numbers}
    if not numbers:
        return found
    rows = session.execute(
        sa.select(model_aliases.c.version, model_aliases.c.alias).where(
            model_aliases.c.tenant == tenant,
            model_aliases.c.model_id == model_id,
            model_aliases.c.version.in_(numbers),
        )
    )
    for row in rows:
        found[int(row.version)].append(row.alias)
    return found


def find(
    session: Session, tenant: str, model_id: str, number: int, *, lock: bool = False
) -> ModelVersion | None:
    statement = sa.select(model_versions).where(_key(tenant, model_id, number))
    if lock:
        statement = statement.with_for_update()
    row = session.execute(statement).one_or_none()
    if row is None:
        return None
    return _version(row, _alias_names(session, tenant, model_id, [number])[number])


def get(session: Session, tenant: str, model_id: str, number: int, *, lock: bool = False) -> ModelVersion:
    version = find(session, tenant, model_id, number, lock=lock)
    if version is None:
        raise errors.version_not_found(model_id, number)
    return version


def find_many(
    session: Session, tenant: str, model_id: str, numbers: Sequence[int]
) -> dict[int, ModelVersion]:
    """The versions among ``numbers`` that exist, by number."""
    rows = session.execute(
        sa.select(model_versions).where(
            model_versions.c.tenant == tenant,
            model_versions.c.model_id == model_id,
            model_versions.c.version.in_(list(numbers)),
        )
    ).all()
    aliases = _alias_names(session, tenant, model_id, [int(row.version) for row in rows])
    return {int(row.version): _version(row, aliases[int(row.version)]) for row in rows}


def insert(session: Session, tenant: str, version: ModelVersion, now: datetime) -> ModelVersion:
    session.execute(
        sa.insert(model_versions).values(
            tenant=tenant,
            model_id=version.model_id,
            version=version.version,
            creator=version.creator,
            create_time=now,
            update_time=now,
            **_columns(
                {
                    "description": version.description,
                    "artifact_uri": version.artifact_uri,
                    "sha256": version.sha256,
                    "size_bytes": version.size_bytes,
                    "format": version.format,
                    "onnx_opset": version.onnx_opset,
                    "inputs": version.inputs,
                    "outputs": version.outputs,
                    "metrics": version.metrics,
                    "labels": version.labels,
                    "source_training_job": version.source_training_job,
                    "state": version.state,
                    "state_message": version.state_message,
                }
            ),
        )
    )
    return get(session, tenant, version.model_id, version.version)


def update(
    session: Session, tenant: str, model_id: str, number: int, values: Mapping[str, Any], now: datetime
) -> ModelVersion:
    """Change the given columns; signatures and enums are converted."""
    session.execute(
        sa.update(model_versions)
        .where(_key(tenant, model_id, number))
        .values(**_columns(values), update_time=now)
    )
    return get(session, tenant, model_id, number)


def delete(session: Session, tenant: str, model_id: str, number: int) -> None:
    session.execute(sa.delete(model_versions).where(_key(tenant, model_id, number)))


def all_of_model(session: Session, tenant: str, model_id: str) -> list[tuple[int, str]]:
    """``(number, sha256)`` of every version of the model."""
    rows = session.execute(
        sa.select(model_versions.c.version, model_versions.c.sha256).where(
            model_versions.c.tenant == tenant, model_versions.c.model_id == model_id
        )
    )
    return [(int(row.version), row.sha256) for row in rows]


def delete_all_of_model(session: Session, tenant: str, model_id: str) -> None:
    session.execute(
        sa.delete(model_versions).where(
            model_versions.c.tenant == tenant, model_versions.c.model_id == model_id
        )
    )


def newest(session: Session, tenant: str, model_id: str) -> int | None:
    """The highest remaining version number of the model."""
    value = session.execute(
        sa.select(sa.func.max(model_versions.c.version)).where(
            model_versions.c.tenant == tenant, model_versions.c.model_id == model_id
        )
    ).scalar_one()
    return None if value is None else int(value)


def sha256_referenced(session: Session, sha256: str) -> bool:
    """Whether any version of any tenant still stores its artifact under ``sha256``.

    FAILED versions do not count: their bytes never made it into storage.
    PENDING ones do, since their import may be about to store them.
    """
    statement = (
        sa.select(model_versions.c.version)
        .where(model_versions.c.sha256 == sha256, model_versions.c.state != VersionState.FAILED.value)
        .limit(1)
    )
    return session.execute(statement).first() is not None


def page(
    session: Session,
    tenant: str,
    model_id: str,
    condition: filtering.Node | None,
    after: query.SortKey | None,
    limit: int,
) -> tuple[list[ModelVersion], query.SortKey | None]:
    """One page of the model's versions matching the filter, newest first."""
    rows, last = query.page(
        session,
        model_versions,
        sa.and_(
            model_versions.c.tenant == tenant,
            model_versions.c.model_id == model_id,
            query.where(condition, _FILTER_COLUMNS),
        ),
        [(model_versions.c.version, True)],
        after,
        limit,
    )
    aliases = _alias_names(session, tenant, model_id, [int(row.version) for row in rows])
    return [_version(row, aliases[int(row.version)]) for row in rows], last


def _alias(row: sa.Row[Any]) -> ModelAlias:
    return ModelAlias(row.model_id, row.alias, int(row.version), row.update_time, row.updater)


def _alias_key(tenant: str, model_id: str, alias: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        model_aliases.c.tenant == tenant, model_aliases.c.model_id == model_id, model_aliases.c.alias == alias
    )


def find_alias(session: Session, tenant: str, model_id: str, alias: str) -> ModelAlias | None:
    row = session.execute(sa.select(model_aliases).where(_alias_key(tenant, model_id, alias))).one_or_none()
    return None if row is None else _alias(row)


def put_alias(session: Session, tenant: str, alias: ModelAlias) -> None:
    """Create the alias or move it; the caller has locked the model row."""
    values = {"version": alias.version, "updater": alias.updater, "update_time": alias.update_time}
    if find_alias(session, tenant, alias.model_id, alias.alias) is None:
        session.execute(
            sa.insert(model_aliases).values(
                tenant=tenant, model_id=alias.model_id, alias=alias.alias, **values
            )
        )
    else:
        session.execute(
            sa.update(model_aliases).where(_alias_key(tenant, alias.model_id, alias.alias)).values(**values)
        )


def delete_alias(session: Session, tenant: str, model_id: str, alias: str) -> None:
    session.execute(sa.delete(model_aliases).where(_alias_key(tenant, model_id, alias)))


def aliases(session: Session, tenant: str, model_id: str, version: int | None = None) -> list[ModelAlias]:
    """The model's aliases (only those pointing at ``version`` when given), by name."""
    statement = sa.select(model_aliases).where(
        model_aliases.c.tenant == tenant, model_aliases.c.model_id == model_id
    )
    if version is not None:
        statement = statement.where(model_aliases.c.version == version)
    return [_alias(row) for row in session.execute(statement.order_by(model_aliases.c.alias))]


def page_aliases(
    session: Session, tenant: str, model_id: str, after: query.SortKey | None, limit: int
) -> tuple[list[ModelAlias], query.SortKey | None]:
    rows, last = query.page(
        session,
        model_aliases,
        sa.and_(model_aliases.c.tenant == tenant, model_aliases.c.model_id == model_id),
        [(model_aliases.c.alias, False)],
        after,
        limit,
    )
    return [_alias(row) for row in rows], last
