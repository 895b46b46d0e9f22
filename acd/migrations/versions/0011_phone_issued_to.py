"""phones.issued_to: the session (token hash) a browser phone's secret was issued to

Logging out ends the browser phones that session opened, and only those.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("phones") as batch:
        batch.add_column(sa.Column("issued_to", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("phones") as batch:
        batch.drop_column("issued_to")
