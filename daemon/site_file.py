"""Load and validate a site file."""

from __future__ import annotations

from pathlib import Path

from daemon.errors import ConfigError
from rules.site import Site
from rules.yaml_source import ConfigFileError, load_yaml, parse_model


def load_site(path: Path) -> Site:
    """Parse a site YAML file; raise ConfigError naming file, line and field for every problem."""
    try:
        return parse_model(load_yaml(path), Site)
    except ConfigFileError as exc:
        raise ConfigError.from_issues(exc.issues) from exc
