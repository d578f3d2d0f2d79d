"""Load and validate a site file."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from daemon.errors import ConfigError
from daemon.yaml_lines import format_validation_error, load_yaml_with_lines
from rules.site import Site


def load_site(path: Path) -> Site:
    """Parse a site YAML file; raise ConfigError naming file, line and field for every problem."""
    data, lines = load_yaml_with_lines(path)
    try:
        return Site.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path), lines)) from exc
