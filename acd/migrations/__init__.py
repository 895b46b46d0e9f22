"""Alembic migrations of acd's database schema, run by ``acd.storage.db.migrate``."""
