"""Helpers for the plans tests: the demo site path, the test clock and an alarm-to-incident rig."""

from __future__ import annotations

import numpy as np

from detectors.conditions import ConditionEvents
from plans.engine import IncidentEngine
from plans.incident import IncidentChanges
from plans.model import Plan
from plans.roster import Roster
from rules.book import AlarmBook
from rules.engine import RuleEngine
from rules.model import Rule
from rules.sensor_table import SensorTable

# Wednesday 2023-11-15 06:13 China Standard Time: the night duty officer (li-na) is on.
T0 = 1_700_000_000.0


class Rig:
    """Rule engine -> alarm book -> incident engine, driven by condition transitions on an injected clock."""

    def __init__(self, table: SensorTable, rules: list[Rule], plan: Plan, roster: Roster, drill: bool) -> None:
        self.table = table
        self.rules = RuleEngine(rules, table)
        self.book = AlarmBook(table, rules)
        self.incidents = IncidentEngine(plan, roster, table, drill=drill)

    def cond(self, condition: str, sensor: str, t: float, active: bool = True) -> IncidentChanges:
        i = self.table.index[sensor]
        ev = ConditionEvents(
            condition, np.array([i], np.int32), np.array([t]), np.array([active]), np.array([1.0]), np.array([0.5])
        )
        transitions = self.book.on_condition(self.rules.process(t, [ev]), t)
        return self.incidents.on_transitions(transitions, t)

    def tick(self, t: float) -> IncidentChanges:
        changes = self.incidents.on_transitions(self.book.tick(t), t)
        more = self.incidents.tick(t)
        changes.timeline += more.timeline
        changes.notifications += more.notifications
        return changes
