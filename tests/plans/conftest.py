"""Shared fixtures for the plans tests: demo site, default rules, plan and roster, and an alarm-to-incident rig."""

from __future__ import annotations

import pytest

from plans.loading import load_plan, load_roster
from plans.model import Plan
from plans.roster import Roster
from rules.loading import load_default_rules
from rules.model import Rule
from rules.sensor_table import SensorTable
from rules.site import Site
from tests.plans.plans_support import Rig


@pytest.fixture(scope="session")
def table(demo_site: Site) -> SensorTable:
    return SensorTable.build(demo_site)


@pytest.fixture(scope="session")
def default_rules() -> list[Rule]:
    return load_default_rules()


@pytest.fixture(scope="session")
def plan() -> Plan:
    return load_plan()


@pytest.fixture(scope="session")
def roster() -> Roster:
    return load_roster()


@pytest.fixture
def rig(table: SensorTable, default_rules: list[Rule], plan: Plan, roster: Roster) -> Rig:
    return Rig(table, default_rules, plan, roster, drill=False)


@pytest.fixture
def drill_rig(table: SensorTable, default_rules: list[Rule], plan: Plan, roster: Roster) -> Rig:
    return Rig(table, default_rules, plan, roster, drill=True)
