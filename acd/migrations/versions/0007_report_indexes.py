"""indexes for reports over a period

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_call_events_at", "call_events", ["at"])
    op.create_index("ix_agent_state_changes_at", "agent_state_changes", ["at"])


def downgrade() -> None:
    op.drop_index("ix_agent_state_changes_at", "agent_state_changes")
    op.drop_index("ix_call_events_at", "call_events")
