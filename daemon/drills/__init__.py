"""Drills: record what arrives, simulate scenarios, replay recordings through the live path, report on them."""
