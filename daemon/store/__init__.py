"""Persistence: SQLAlchemy 2 (async) Core tables, engine set-up and Alembic migrations."""
