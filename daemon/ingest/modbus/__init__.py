"""Modbus TCP polling of gas-detection controllers (GB/T 50493 systems)."""
