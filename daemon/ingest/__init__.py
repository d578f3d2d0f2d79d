"""Ingest: every way readings reach the service (MQTT, HJ 212 over TCP, Modbus TCP polling)."""
