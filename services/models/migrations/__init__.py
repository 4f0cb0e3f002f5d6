"""Alembic revisions of the model management store, run by ``services.runtime.store``."""
