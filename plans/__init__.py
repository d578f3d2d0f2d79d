"""Emergency plans: the plan and duty-roster models, the incident engine, and config validation."""
