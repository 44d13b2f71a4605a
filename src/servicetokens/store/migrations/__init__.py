"""Alembic migrations for the servicetokens schema."""
