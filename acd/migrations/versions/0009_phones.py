"""phones: each agent's own SIP phone (a digest of its secret), and hot desks

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "phones",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("job_number", sa.String(16), nullable=False),
        sa.Column("realm", sa.String(40), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("changed_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "hot_desks",
        sa.Column("job_number", sa.String(16), primary_key=True),
        sa.Column("endpoint", sa.String(60), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("hot_desks")
    op.drop_table("phones")
