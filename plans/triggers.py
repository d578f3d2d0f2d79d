"""Evaluate a plan's tier triggers over the alarms that are currently on."""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from plans.model import AlarmMatch, Plan, Tier, Trigger
from rules.alarm import ANNUNCIATED_ACTIVE, AlarmState
from rules.model import Classification, Priority
from rules.sensor_table import SensorTable


@dataclass
class AlarmView:
    """What the plan knows about one alarm, kept up to date from its transitions."""

    alarm_id: str
    rule_id: str
    sensor: int
    condition: str
    priority: Priority
    classification: Classification
    state: AlarmState
    process_active: bool
    raised_at: float

    @property
    def on(self) -> bool:
        """Counts for the plan: annunciated, or shelved while its condition holds (shelving hides, not cures)."""
        return self.state in ANNUNCIATED_ACTIVE or (self.state is AlarmState.SHELVED and self.process_active)

    @property
    def returned(self) -> bool:
        """Condition clear and nothing latched: the alarm no longer keeps an incident open."""
        return not self.process_active and self.state not in ANNUNCIATED_ACTIVE


@dataclass(frozen=True, slots=True)
class TriggerHit:
    """A trigger that holds, and the alarms that make it hold."""

    tier: Tier
    trigger_id: str
    alarm_ids: tuple[str, ...]


def _matches(match: AlarmMatch, view: AlarmView, table: SensorTable) -> bool:
    sensor = table.sensors[view.sensor]
    device = table.devices[int(table.device_of[view.sensor])]
    zone = table.zone[view.sensor]
    zone_type = next(z.type for z in table.site.zones if z.id == zone)
    category = device.source.category if device.source is not None else None
    return (
        (match.conditions is None or any(fnmatch.fnmatchcase(view.condition, p) for p in match.conditions))
        and (match.rules is None or view.rule_id in match.rules)
        and (match.classification is None or view.classification in match.classification)
        and (match.min_priority is None or view.priority.rank >= match.min_priority.rank)
        and (match.kind is None or sensor.kind in match.kind)
        and (match.zone is None or zone in match.zone)
        and (match.zone_type is None or zone_type in match.zone_type)
        and (match.device_type is None or device.type in match.device_type)
        and (match.substance is None or sensor.substance in match.substance)
        and (match.source_category is None or category in match.source_category)
    )


def _place(trigger: Trigger, view: AlarmView, table: SensorTable) -> str:
    if trigger.count == "zone":
        return table.zone[view.sensor]
    if trigger.count == "device":
        return table.devices[int(table.device_of[view.sensor])].id
    return table.sensors[view.sensor].id


def evaluate_trigger(trigger: Trigger, views: Iterable[AlarmView], table: SensorTable) -> tuple[str, ...] | None:
    """The alarm ids that satisfy the trigger, or None when it does not hold."""
    groups: dict[str, list[AlarmView]] = defaultdict(list)
    for view in views:
        if view.on and _matches(trigger.match, view, table):
            groups[table.zone[view.sensor] if trigger.same_zone else ""].append(view)
    for members in groups.values():
        members.sort(key=lambda v: v.raised_at)
        span = trigger.within_s if trigger.within_s is not None else float("inf")
        for i, first in enumerate(members):
            window = [v for v in members[i:] if v.raised_at - first.raised_at <= span]
            if len({_place(trigger, v, table) for v in window}) >= trigger.min_count:
                return tuple(v.alarm_id for v in window)
    return None


def highest_hit(plan: Plan, views: Iterable[AlarmView], table: SensorTable) -> TriggerHit | None:
    """The highest tier with a trigger that holds (first such trigger in file order)."""
    snapshot = list(views)
    for spec in sorted(plan.tiers, key=lambda t: t.tier.rank, reverse=True):
        for trigger in spec.triggers:
            alarm_ids = evaluate_trigger(trigger, snapshot, table)
            if alarm_ids is not None:
                return TriggerHit(spec.tier, trigger.id, alarm_ids)
    return None
