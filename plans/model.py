"""The emergency-plan model: tiers, their triggers over alarms, who is told, what is done, what is reported."""

from __future__ import annotations

import fnmatch
from enum import StrEnum
from typing import Literal, Self

from pydantic import Field, model_validator

from detectors.kinds import Kind
from rules import condition_names
from rules.model import Classification, Priority
from rules.site import DeviceType, ZoneType
from rules.strict import FrozenModel, RankedEnum


class Tier(RankedEnum):
    """Warning colour of the national plan for sudden environmental incidents (2014), lowest first."""

    BLUE = "blue"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"

    @property
    def alarm_priority(self) -> Priority:
        """The alarm priority of the same rank (blue = low ... red = urgent)."""
        return list(Priority)[self.rank]

    @classmethod
    def of_priority(cls, priority: Priority) -> Tier:
        """The tier of the same rank as an alarm priority."""
        return list(cls)[priority.rank]

    @property
    def response_level(self) -> str:
        """Response level: blue IV 一般, yellow III 较大, orange II 重大, red I 特别重大."""
        return ("IV", "III", "II", "I")[self.rank]


TIER_OF_LEVEL = {tier.response_level: tier for tier in Tier}  # "IV" -> blue ... "I" -> red


class AlarmMatch(FrozenModel):
    """Which alarms a trigger counts. Fields combine with AND, list items with OR."""

    conditions: list[str] | None = Field(None, description="Condition names; a trailing `*` matches a prefix.")
    rules: list[str] | None = Field(None, description="Rule ids.")
    classification: list[Classification] | None = Field(None, description="Alarm classifications.")
    min_priority: Priority | None = Field(None, description="Only alarms of this priority or above.")
    kind: list[Kind] | None = Field(None, description="Measurement kinds of the alarm's sensor.")
    zone: list[str] | None = Field(None, description="Zone ids.")
    zone_type: list[ZoneType] | None = Field(None, description="Zone types.")
    device_type: list[DeviceType] | None = Field(None, description="Device types.")
    substance: list[str] | None = Field(None, description="Gas formulas.")
    source_category: list[int] | None = Field(None, description="Sealed-source categories 1-5 (I-V).")

    @model_validator(mode="after")
    def _conditions_exist(self) -> Self:
        for pattern in self.conditions or []:
            if not any(fnmatch.fnmatchcase(name, pattern) for name in condition_names.KNOWN):
                raise ValueError(f"condition pattern {pattern!r} matches no known condition")
        return self


class Trigger(FrozenModel):
    """A tier holds when at least ``min_count`` distinct sensors/devices/zones have matching alarms."""

    id: str = Field(description="Trigger id, unique in the plan.", pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = Field(description="The trigger in words, as the plan text states it.")
    match: AlarmMatch = Field(description="Which alarms count.")
    min_count: int = Field(1, ge=1, description="How many distinct places must have a matching alarm.")
    count: Literal["sensor", "device", "zone"] = Field("sensor", description="What counts as a distinct place.")
    same_zone: bool = Field(False, description="All counted places must be in the same zone.")
    within_s: float | None = Field(
        None, gt=0, description="The counted alarms must have been raised within this many seconds of each other."
    )


class Action(FrozenModel):
    """One checklist item."""

    id: str = Field(
        description="Action id; the same id in several tiers is one action.", pattern=r"^[a-z0-9][a-z0-9_.-]*$"
    )
    text: str = Field(description="What to do (Chinese and/or English).")
    role: str = Field(description="Role responsible for it.")


class Report(FrozenModel):
    """A report the incident owes, due a fixed time after the tier was reached."""

    id: str = Field(
        description="Report id; the same id in several tiers is one report, owed once.",
        pattern=r"^[a-z0-9][a-z0-9_.-]*$",
    )
    name: str = Field(description="e.g. initial report to the city government.")
    to: str = Field(description="Who receives it (authority).")
    due_s: float = Field(gt=0, description="Seconds after the tier was reached.")
    role: str = Field(description="Role that writes and sends it; reminded when it is overdue.")


class TierSpec(FrozenModel):
    """One warning tier of the plan."""

    tier: Tier = Field(description="Warning colour.")
    name: str = Field(description="Name as in the plan, e.g. 一般 (IV).")
    triggers: list[Trigger] = Field(default_factory=list, description="Any one holding proposes this tier.")
    notify: list[str] = Field(min_length=1, description="Roles paged when the incident reaches this tier.")
    ack_deadline_s: float = Field(gt=0, description="Seconds to acknowledge a page before it escalates.")
    escalation: list[str] = Field(
        default_factory=list, description="Roles paged in turn while nobody acknowledges, one per deadline."
    )
    channel_timeout_s: float | None = Field(
        None,
        gt=0,
        description="Seconds each of a person's channels gets (not delivered or not acknowledged) before the next "
        "one is tried; empty shares the ack deadline among the channels. Escalation never comes before every "
        "channel of the paged people had its time.",
    )
    page_all_channels: bool = Field(
        False, description="Page every channel of each person at once (for the most urgent tiers)."
    )
    actions: list[Action] = Field(default_factory=list, description="Checklist added at this tier.")
    reports: list[Report] = Field(default_factory=list, description="Reports owed at this tier.")


class AlarmPaging(FrozenModel):
    """Paging of single alarms that belong to no incident."""

    min_priority: Priority = Field(Priority.HIGH, description="Alarms of this priority or above are paged.")
    roles: list[str] = Field(min_length=1, description="Roles paged for a single alarm or an alarm flood.")


class Grouping(StrEnum):
    """Which alarms one incident gathers."""

    HAZARD = "hazard"  # one incident per hazard: toxic gas (gas detectors), radiation (gamma stations, sealed sources)
    SITE = "site"  # one incident for everything at the site: every alarm is taken as the same event


class Plan(FrozenModel):
    """An emergency plan for sudden environmental incidents."""

    plan: str = Field(description="Plan id.", pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    name: str = Field(description="Plan title.")
    grouping: Grouping = Field(
        Grouping.HAZARD,
        description="`hazard`: a radiation alarm never joins a toxic-gas incident (nor the reverse), each hazard has "
        "its own incident, tier, pages and deadlines; `site`: every alarm at the site joins the one open incident.",
    )
    reminder_interval_s: float = Field(900.0, gt=0, description="Seconds between reminders of an overdue report.")
    alarm_paging: AlarmPaging = Field(description="Paging of alarms outside incidents.")
    tiers: list[TierSpec] = Field(min_length=1, description="Tiers, any order.")

    def tier(self, tier: Tier) -> TierSpec:
        """The spec of one tier."""
        return next(t for t in self.tiers if t.tier is tier)
