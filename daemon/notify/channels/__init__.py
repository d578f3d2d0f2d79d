"""Delivery channels. Each turns one outbox row into a request to a real endpoint and raises on failure."""
