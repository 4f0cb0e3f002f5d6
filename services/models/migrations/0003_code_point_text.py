"""Text columns sort and compare by code point on PostgreSQL too; tenants and subjects have no length limit.

A PostgreSQL database sorts by its default collation, usually a language's,
while SQLite compares bytes: lists ordered by display name (and the page
tokens following that order) differed between the two.  PostgreSQL also
refused tenants and subjects longer than their declared lengths, which SQLite
never enforced.  SQLite needs no change: its text already behaves so.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_UNBOUNDED = None
# (table, column, length before, length after): every VARCHAR column of revision 0002.
_COLUMNS: tuple[tuple[str, str, int, int | None], ...] = (
    ("models", "tenant", 128, _UNBOUNDED),
    ("models", "model_id", 63, 63),
    ("models", "display_name", 128, 128),
    ("models", "task", 32, 32),
    ("model_versions", "tenant", 128, _UNBOUNDED),
    ("model_versions", "model_id", 63, 63),
    ("model_versions", "sha256", 64, 64),
    ("model_versions", "format", 32, 32),
    ("model_versions", "source_training_job", 128, 128),
    ("model_versions", "state", 32, 32),
    ("model_versions", "creator", 255, _UNBOUNDED),
    ("model_aliases", "tenant", 128, _UNBOUNDED),
    ("model_aliases", "model_id", 63, 63),
    ("model_aliases", "alias", 63, 63),
    ("model_aliases", "updater", 255, _UNBOUNDED),
    ("operations", "tenant", 128, _UNBOUNDED),
    ("operations", "model_id", 63, 63),
    ("operations", "operation_id", 63, 63),
    ("operations", "error_reason", 63, 63),
    ("operations", "runner", 127, 127),
    ("deployments", "tenant", 128, _UNBOUNDED),
    ("deployments", "deployment_id", 63, 63),
    ("deployments", "model_id", 63, 63),
    ("deployments", "display_name", 128, 128),
    ("deployments", "state", 32, 32),
    ("deployment_traffic", "tenant", 128, _UNBOUNDED),
    ("deployment_traffic", "deployment_id", 63, 63),
    ("deployment_traffic", "model_id", 63, 63),
    ("traffic_history", "tenant", 128, _UNBOUNDED),
    ("traffic_history", "deployment_id", 63, 63),
    ("audit_events", "tenant", 128, _UNBOUNDED),
    ("audit_events", "action", 32, 32),
    ("audit_events", "resource", 255, 255),
    ("audit_events", "actor", 255, _UNBOUNDED),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, before, after in _COLUMNS:
        # Indexes on the column (primary keys included) are rebuilt in the new order.
        op.alter_column(table, column, type_=sa.String(after, collation="C"), existing_type=sa.String(before))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, before, after in _COLUMNS:
        op.alter_column(table, column, type_=sa.String(before), existing_type=sa.String(after, collation="C"))
