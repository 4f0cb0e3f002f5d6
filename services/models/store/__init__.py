"""The model management store: tables, migrations and the row functions the core composes.

Each core operation runs as one function in one transaction
(``await database.write(work)``); the modules here hold the SQL of each table
group and never commit on their own.
"""

from __future__ import annotations

from services.models import migrations
from services.runtime.store import Database, open_database


def open_store(url: str) -> Database:
    """Connect to the store at ``url`` and migrate it to the newest schema."""
    return open_database(url, migrations)
