"""Create the notes table: the one-table schema the store tests migrate to.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("counter", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("notes")
