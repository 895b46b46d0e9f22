"""call registrations and follow-up tickets

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_registrations",
        sa.Column("call_id", sa.String(64), primary_key=True),
        sa.Column("agent", sa.String(16), nullable=False),
        sa.Column("line", sa.String(32), nullable=False),
        sa.Column("caller", sa.String(40), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("urgency", sa.String(10), nullable=False),
        sa.Column("notes", sa.String(4000), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
    )
    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("urgency", sa.String(10), nullable=False),
        sa.Column("line", sa.String(32), nullable=False),
        sa.Column("agent", sa.String(16), nullable=False),
        sa.Column("caller", sa.String(40), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("opened_at", sa.Float(), nullable=False),
        sa.Column("due_at", sa.Float(), nullable=False),
        sa.Column("taken_by", sa.String(16), nullable=True),
        sa.Column("taken_at", sa.Float(), nullable=True),
        sa.Column("closed_by", sa.String(16), nullable=True),
        sa.Column("closed_at", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(4000), nullable=True),
        sa.Column("escalated_at", sa.Float(), nullable=True),
        sa.Column("chased_at", sa.Float(), nullable=True),
    )
    op.create_index("ix_follow_ups_closed_at", "follow_ups", ["closed_at"])
    op.create_index("ix_follow_ups_call_id", "follow_ups", ["call_id"])


def downgrade() -> None:
    op.drop_table("follow_ups")
    op.drop_table("call_registrations")
