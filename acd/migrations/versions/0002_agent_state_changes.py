"""agent_state_changes: every agent state change, timestamped

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_state_changes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("job_number", sa.String(16), nullable=False),
        sa.Column("old", sa.String(16), nullable=False),
        sa.Column("new", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("call_id", sa.String(64), nullable=True),
        sa.Column("at", sa.Float(), nullable=False),
    )
    op.create_index("ix_agent_state_changes_job_at", "agent_state_changes", ["job_number", "at"])


def downgrade() -> None:
    op.drop_index("ix_agent_state_changes_job_at", table_name="agent_state_changes")
    op.drop_table("agent_state_changes")
