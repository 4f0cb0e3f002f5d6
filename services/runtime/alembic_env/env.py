"""Alembic environment: run the revisions on the connection passed in ``config.attributes``."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

config = context.config


def _run_online(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=config.attributes.get("target_metadata"),
        # SQLite can only ALTER a table by copying it; batch mode does that for revisions.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("aiplat migrations run online only, through services.runtime.store")

_connection = config.attributes.get("connection")
if not isinstance(_connection, Connection):
    raise RuntimeError("run migrations through services.runtime.store.upgrade(), which passes a connection")
_run_online(_connection)
