"""Duty-officer notifications: a transactional outbox in the database, channels, and a delivery worker."""
