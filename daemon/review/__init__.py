"""Tiered data review: station, centre and bureau reviewers confirm or invalidate a station-day's data."""
