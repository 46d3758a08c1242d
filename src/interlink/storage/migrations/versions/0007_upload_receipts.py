"""uploads being received, so the files of one cut short can be found and removed

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import interlink.storage.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = interlink.storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "upload_receipts",
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("started_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("job_id"),
    )
    with op.batch_alter_table("upload_receipts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_upload_receipts_started_at"), ["started_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("upload_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_upload_receipts_started_at"))
    op.drop_table("upload_receipts")
