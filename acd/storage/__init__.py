"""Storage: SQLAlchemy 2 async (SQLite by default, PostgreSQL for big sites)."""
