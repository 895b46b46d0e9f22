"""recordings: one row per recorded call

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("call_id", sa.String(64), primary_key=True),
        sa.Column("line", sa.String(32), nullable=False),
        sa.Column("agent", sa.String(16), nullable=False),
        sa.Column("caller", sa.String(40), nullable=False),
        sa.Column("path", sa.String(400), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("checksum", sa.String(64), nullable=True),
        sa.Column("complete", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("recordings")
