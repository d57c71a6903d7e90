"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from __future__ import annotations

from alembic import op

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Both engines: op.* calls, or op.execute() per dialect when the SQL differs
    # (op.get_bind().dialect.name is "sqlite" or "postgresql").
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    raise NotImplementedError("Sentra migrations only go forward; restore a backup instead")
