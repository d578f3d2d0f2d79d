"""Alembic environment: runs on the connection hazwatch hands in (see daemon.store.engine.migrate)."""

from __future__ import annotations

from alembic import context

from daemon.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through daemon.store.engine.migrate (or `hazwatch db upgrade`)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
