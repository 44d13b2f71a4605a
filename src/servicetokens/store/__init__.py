"""Storage: one SQLAlchemy Core adapter over SQLite (default) and PostgreSQL."""
