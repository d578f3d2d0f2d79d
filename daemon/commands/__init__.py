"""CLI sub-commands: each module has ``register(subparsers)`` that adds its parser and handler."""
