"""call_events.caller: the caller's number on each call's first event, indexed

The screen pop shows a caller's earlier calls. Found through the JSON of every
call's events, that took a scan of the whole table for each call rung (growing
all day, every day); with the number in a column of its own it is an index
lookup. Existing calls get theirs from the JSON.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_events") as batch:
        batch.add_column(sa.Column("caller", sa.String(40), nullable=True))
    # Only first events have a caller: the others cost no index entry.
    first_only = sa.text("caller IS NOT NULL")
    op.create_index(
        "ix_call_events_caller_at",
        "call_events",
        ["caller", "at"],
        sqlite_where=first_only,
        postgresql_where=first_only,
    )
    number = (
        "NULLIF(substr(data ->> 'caller', 1, 40), '')"
        if op.get_bind().dialect.name == "postgresql"
        else "NULLIF(substr(json_extract(data, '$.caller'), 1, 40), '')"
    )
    op.execute(f"UPDATE call_events SET caller = {number} WHERE kind = 'ivr_entered'")


def downgrade() -> None:
    op.drop_index("ix_call_events_caller_at", "call_events")
    with op.batch_alter_table("call_events") as batch:
        batch.drop_column("caller")
