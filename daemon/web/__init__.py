"""The HTTP room: the API, the duty console and what they read."""
