"""agent_skills: skill levels set by an admin through the API (override acd.toml)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_skills",
        sa.Column("job_number", sa.String(16), primary_key=True),
        sa.Column("skills", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("agent_skills")
