"""rate budgets shared by the processes of a deployment

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import interlink.storage.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = interlink.storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    # Used on PostgreSQL (several processes); the embedded hub keeps budgets in memory.
    op.create_table(
        "rate_budgets",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("filled_at", UTC, nullable=False),
        sa.Column("paused_until", UTC, nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("rate_budgets")
