"""Imports carry the process that runs them and its lease, so replicas never run one import twice.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("operations", sa.Column("runner", sa.String(127), nullable=True))
    op.add_column("operations", sa.Column("lease_expires", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("operations", "lease_expires")
    op.drop_column("operations", "runner")
