"""The JSON API of the duty console: reads, authenticated actions, live events, OpenAPI description."""
