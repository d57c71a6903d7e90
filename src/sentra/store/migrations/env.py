"""Alembic environment: runs on the connection that ``sentra.store.migrations.upgrade``
hands over (already inside its transaction and holding its lock); no alembic.ini, no
engine of its own, no model metadata (revisions are written by hand)."""

from __future__ import annotations

from alembic import context

context.configure(connection=context.config.attributes["connection"], target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
