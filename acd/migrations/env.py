"""Alembic environment: runs on the connection acd hands over (see acd.storage.db)."""

from __future__ import annotations

from alembic import context

from acd.storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("acd migrations run through acd.storage.db.migrate(), not the alembic CLI")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
