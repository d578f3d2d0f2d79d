"""Shared fixtures for the rules tests: the demo site, its sensor table and the default rules."""

from __future__ import annotations

import pytest

from rules.loading import load_default_rules
from rules.model import Rule
from rules.sensor_table import SensorTable
from rules.site import Site


@pytest.fixture(scope="session")
def site(demo_site: Site) -> Site:
    """The shipped demo site, loaded once by the root conftest's loader (the one the service uses)."""
    return demo_site


@pytest.fixture(scope="session")
def table(site: Site) -> SensorTable:
    return SensorTable.build(site)


@pytest.fixture(scope="session")
def default_rules() -> list[Rule]:
    return load_default_rules()
