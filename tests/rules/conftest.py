"""Shared fixtures for the rules tests: the demo site, its sensor table and the default rules."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rules.loading import load_default_rules
from rules.model import Rule
from rules.sensor_table import SensorTable
from rules.site import Site

DEMO_SITE = Path(__file__).parents[2] / "daemon" / "sites" / "demo-park.yaml"


@pytest.fixture(scope="session")
def site() -> Site:
    return Site.model_validate(yaml.safe_load(DEMO_SITE.read_text(encoding="utf-8")))


@pytest.fixture(scope="session")
def table(site: Site) -> SensorTable:
    return SensorTable.build(site)


@pytest.fixture(scope="session")
def default_rules() -> list[Rule]:
    return load_default_rules()
