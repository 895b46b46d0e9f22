"""agent_state_changes.endpoint: the phone the agent works at, kept across restarts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agent_state_changes") as batch:
        batch.add_column(sa.Column("endpoint", sa.String(60), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agent_state_changes") as batch:
        batch.drop_column("endpoint")
