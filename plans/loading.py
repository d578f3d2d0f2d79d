"""Load the plan and roster files, and the defaults shipped with hazwatch."""

from __future__ import annotations

from pathlib import Path

from plans.model import Plan
from plans.roster import Roster
from rules.yaml_source import load_yaml, parse_model

DEFAULTS_DIR = Path(__file__).parent / "defaults"
DEFAULT_PLAN = DEFAULTS_DIR / "city-plan.yaml"
DEFAULT_ROSTER = DEFAULTS_DIR / "roster.yaml"


def load_plan(path: str | Path = DEFAULT_PLAN) -> Plan:
    """Load and validate a plan file; raise ``ConfigFileError`` with located issues."""
    return parse_model(load_yaml(path), Plan)


def load_roster(path: str | Path = DEFAULT_ROSTER) -> Roster:
    """Load and validate a roster file; raise ``ConfigFileError`` with located issues."""
    return parse_model(load_yaml(path), Roster)
