"""Fixtures of the fault suite."""

from tests.faults.postgres_cluster import own_postgres

__all__ = ["own_postgres"]
