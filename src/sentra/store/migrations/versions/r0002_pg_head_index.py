"""PostgreSQL: index the head table by series and time.

Several nodes may write into one PostgreSQL database, so no node's in-memory mirror knows
every unsealed sample: history queries read them from ``head`` (``WHERE series_id = ? AND
ts BETWEEN …``), which this index serves. SQLite is left as it is: there the single
writer's mirror answers those queries, and an index would only slow the appends.

Revision ID: r0002_pg_head_index
Revises: r0001_baseline
"""

from __future__ import annotations

from alembic import op

revision = "r0002_pg_head_index"
down_revision: str | None = "r0001_baseline"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX head_by_series ON head(series_id, ts)")


def downgrade() -> None:
    raise NotImplementedError("Sentra migrations only go forward; restore a backup instead")
