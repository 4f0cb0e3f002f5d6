"""The tables of the model management store (SQLAlchemy Core).

Every table carries the owning ``tenant`` as the first primary-key column,
so that the same id can exist in two tenants and every query is scoped by
it.  The Alembic migrations in ``services/models/migrations`` create exactly
these tables; a test compares the two.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them without a zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        # SQLite keeps text without a zone: all in UTC, it sorts and compares correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL so that `labels ->> 'key'` filters can use it; JSON text elsewhere.
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _code_points(length: int) -> sa.String:
    """Text that sorts and compares by code point on every backend, as SQLite's does.

    A PostgreSQL database sorts by its default collation, usually a language's (``en_US.UTF-8``),
    so lists would come back in another order there; "C" compares the UTF-8 bytes, which is code
    point order.  Filters, keys and keyset page tokens all follow the column's collation.
    """
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _unbounded(declared: int) -> sa.String:
    """Code-point text of any length: values come from identity providers, which set no limit.

    SQLite never enforced ``declared`` (the length of the first migration); PostgreSQL did, and
    refused what SQLite stored.
    """
    return sa.String(declared).with_variant(sa.String(collation="C"), "postgresql")


Tenant = _unbounded(128)
Id = _code_points(63)
Subject = _unbounded(255)

models = sa.Table(
    "models",
    metadata,
    sa.Column("tenant", Tenant, primary_key=True),
    sa.Column("model_id", Id, primary_key=True),
    sa.Column("display_name", _code_points(128), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("labels", Json, nullable=False),
    sa.Column("task", _code_points(32), nullable=False),
    # Version numbers are never reused, so the next one is kept rather than derived from max().
    sa.Column("next_version", sa.BigInteger(), nullable=False),
    sa.Column("latest_version", sa.BigInteger(), nullable=True),
    sa.Column("revision", sa.BigInteger(), nullable=False),
    sa.Column("create_time", UtcDateTime(), nullable=False),
    sa.Column("update_time", UtcDateTime(), nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("tenant", Tenant, primary_key=True),
    sa.Column("model_id", Id, primary_key=True),
    sa.Column("version", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("artifact_uri", sa.Text(), nullable=False),
    sa.Column("sha256", _code_points(64), nullable=False, index=True),
    sa.Column("size_bytes", sa.BigInteger(), nullable=False),
    sa.Column("format", _code_points(32), nullable=False),
    sa.Column("onnx_opset", sa.BigInteger(), nullable=False),
    sa.Column("inputs", Json, nullable=False),
    sa.Column("outputs", Json, nullable=False),
    sa.Column("metrics", Json, nullable=False),
    sa.Column("labels", Json, nullable=False),
    sa.Column("source_training_job", _code_points(128), nullable=False),
    sa.Column("state", _code_points(32), nullable=False),
    sa.Column("state_message", sa.Text(), nullable=False),
    sa.Column("creator", Subject, nullable=False),
    sa.Column("create_time", UtcDateTime(), nullable=False),
    sa.Column("update_time", UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["tenant", "model_id"], ["models.tenant", "models.model_id"], ondelete="CASCADE"),
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("tenant", Tenant, primary_key=True),
    sa.Column("model_id", Id, primary_key=True),
    sa.Column("alias", Id, primary_key=True),
    sa.Column("version", sa.BigInteger(), nullable=False),
    sa.Column("updater", Subject, nullable=False),
    sa.Column("update_time", UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(
        ["tenant", "model_id", "version"],
        ["model_versions.tenant", "model_versions.model_id", "model_versions.version"],
        ondelete="CASCADE",
    ),
)

operations = sa.Table(
    "operations",
    metadata,
    sa.Column("tenant", Tenant, primary_key=True),
    sa.Column("model_id", Id, primary_key=True),
    sa.Column("operation_id", Id, primary_key=True),
    sa.Column("version", sa.BigInteger(), nullable=False),
    sa.Column("source_uri", sa.Text(), nullable=False),
    sa.Column("expected_size", sa.BigInteger(), nullable=True),
    sa.Column("done", sa.Boolean(), nullable=False, index=True),
    sa.Column("bytes_copied", sa.BigInteger(), nullable=False),
    sa.Column("error_code", sa.Integer(), nullable=True),
    sa.Column("error_reason", _code_points(63), nullable=True),
    sa.Column("error_message", sa.Text(), nullable=True),
    sa.Column("start_time", UtcDateTime(), nullable=False),
    sa.Column("end_time", UtcDateTime(), nullable=True),
    # Which process runs the import, and until when it has promised to (it renews while it runs).
    sa.Column("runner", _code_points(127), nullable=True),
    sa.Column("lease_expires", UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(["tenant", "model_id"], ["models.tenant", "models.model_id"], ondelete="CASCADE"),
)

deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("tenant", Tenant, primary_key=True),
    sa.Column("deployment_id", Id, primary_key=True),
    # Not a foreign key: a forced model delete leaves its deployments in place, without traffic.
    sa.Column("model_id", Id, nullable=False),
    sa.Column("display_name", _code_points(128), nullable=False),
    sa.Column("spec", Json, nullable=False),
    sa.Column("labels", Json, nullable=False),
    sa.Column("generation", sa.BigInteger(), nullable=False),
    sa.Column("state", _code_points(32), nullable=False),
    sa.Column("status", Json, nullable=False),
    sa.Column("create_time", UtcDateTime(), nullable=False),
    sa.Column("update_time", UtcDateTime(), nullable=False),
    sa.Index("ix_deployments_tenant_model_id", "tenant", "model_id"),
)

# The current split, one row per target, so that "is this version in use" is one indexed query.
deployment_traffic = sa.Table(
    "deployment_traffic",
    metadata,
    sa.Column("tenant", Tenant, primary_key=True),
    sa.Column("deployment_id", Id, primary_key=True),
    sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("model_id", Id, nullable=False),
    sa.Column("version", sa.BigInteger(), nullable=False),
    sa.Column("percent", sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(
        ["tenant", "deployment_id"], ["deployments.tenant", "deployments.deployment_id"], ondelete="CASCADE"
    ),
    sa.Index("ix_deployment_traffic_tenant_model_id_version", "tenant", "model_id", "version"),
)

# Every split a deployment has had, newest last; rollback pops the newest.
traffic_history = sa.Table(
    "traffic_history",
    metadata,
    sa.Column("tenant", Tenant, primary_key=True),
    sa.Column("deployment_id", Id, primary_key=True),
    sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("traffic", Json, nullable=False),
    sa.Column("create_time", UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(
        ["tenant", "deployment_id"], ["deployments.tenant", "deployments.deployment_id"], ondelete="CASCADE"
    ),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("tenant", Tenant, nullable=False),
    sa.Column("action", _code_points(32), nullable=False),
    sa.Column("resource", _code_points(255), nullable=False),
    sa.Column("actor", Subject, nullable=False),
    sa.Column("time", UtcDateTime(), nullable=False),
    sa.Column("before_json", sa.Text(), nullable=False),
    sa.Column("after_json", sa.Text(), nullable=False),
    sa.Index("ix_audit_events_tenant_time", "tenant", "time"),
    sa.Index("ix_audit_events_tenant_resource", "tenant", "resource"),
)
