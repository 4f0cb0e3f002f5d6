"""Models, versions, aliases, imports, deployments with their traffic history, and the audit log.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("model_id", sa.String(63), nullable=False),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("labels", _json, nullable=False),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("next_version", sa.BigInteger(), nullable=False),
        sa.Column("latest_version", sa.BigInteger(), nullable=True),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("create_time", _time, nullable=False),
        sa.Column("update_time", _time, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "model_id", name="pk_models"),
    )
    op.create_table(
        "model_versions",
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("model_id", sa.String(63), nullable=False),
        sa.Column("version", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("artifact_uri", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("onnx_opset", sa.BigInteger(), nullable=False),
        sa.Column("inputs", _json, nullable=False),
        sa.Column("outputs", _json, nullable=False),
        sa.Column("metrics", _json, nullable=False),
        sa.Column("labels", _json, nullable=False),
        sa.Column("source_training_job", sa.String(128), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("state_message", sa.Text(), nullable=False),
        sa.Column("creator", sa.String(255), nullable=False),
        sa.Column("create_time", _time, nullable=False),
        sa.Column("update_time", _time, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant", "model_id"],
            ["models.tenant", "models.model_id"],
            name="fk_model_versions_tenant_models",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant", "model_id", "version", name="pk_model_versions"),
    )
    op.create_index("ix_model_versions_sha256", "model_versions", ["sha256"])
    op.create_table(
        "model_aliases",
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("model_id", sa.String(63), nullable=False),
        sa.Column("alias", sa.String(63), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updater", sa.String(255), nullable=False),
        sa.Column("update_time", _time, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant", "model_id", "version"],
            ["model_versions.tenant", "model_versions.model_id", "model_versions.version"],
            name="fk_model_aliases_tenant_model_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant", "model_id", "alias", name="pk_model_aliases"),
    )
    op.create_table(
        "operations",
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("model_id", sa.String(63), nullable=False),
        sa.Column("operation_id", sa.String(63), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("source_uri", sa.Text(), nullable=False),
        sa.Column("expected_size", sa.BigInteger(), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("bytes_copied", sa.BigInteger(), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_reason", sa.String(63), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("start_time", _time, nullable=False),
        sa.Column("end_time", _time, nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant", "model_id"],
            ["models.tenant", "models.model_id"],
            name="fk_operations_tenant_models",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant", "model_id", "operation_id", name="pk_operations"),
    )
    op.create_index("ix_operations_done", "operations", ["done"])
    op.create_table(
        "deployments",
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("deployment_id", sa.String(63), nullable=False),
        sa.Column("model_id", sa.String(63), nullable=False),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("spec", _json, nullable=False),
        sa.Column("labels", _json, nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("status", _json, nullable=False),
        sa.Column("create_time", _time, nullable=False),
        sa.Column("update_time", _time, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "deployment_id", name="pk_deployments"),
    )
    op.create_index("ix_deployments_tenant_model_id", "deployments", ["tenant", "model_id"])
    op.create_table(
        "deployment_traffic",
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("deployment_id", sa.String(63), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("model_id", sa.String(63), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("percent", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant", "deployment_id"],
            ["deployments.tenant", "deployments.deployment_id"],
            name="fk_deployment_traffic_tenant_deployments",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant", "deployment_id", "position", name="pk_deployment_traffic"),
    )
    op.create_index(
        "ix_deployment_traffic_tenant_model_id_version",
        "deployment_traffic",
        ["tenant", "model_id", "version"],
    )
    op.create_table(
        "traffic_history",
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("deployment_id", sa.String(63), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("traffic", _json, nullable=False),
        sa.Column("create_time", _time, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant", "deployment_id"],
            ["deployments.tenant", "deployments.deployment_id"],
            name="fk_traffic_history_tenant_deployments",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant", "deployment_id", "seq", name="pk_traffic_history"),
    )
    op.create_table(
        "audit_events",
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("resource", sa.String(255), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("time", _time, nullable=False),
        sa.Column("before_json", sa.Text(), nullable=False),
        sa.Column("after_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_tenant_time", "audit_events", ["tenant", "time"])
    op.create_index("ix_audit_events_tenant_resource", "audit_events", ["tenant", "resource"])


def downgrade() -> None:
    for table in (
        "audit_events",
        "traffic_history",
        "deployment_traffic",
        "deployments",
        "operations",
        "model_aliases",
        "model_versions",
        "models",
    ):
        op.drop_table(table)
