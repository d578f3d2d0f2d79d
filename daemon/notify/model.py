"""What a notification is about: the facts every channel renders (the intent: ``plans.incident.NotificationIntent``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from plans.model import Tier
from rules.model import Priority

# ISA-18.2 priority of a single alarm -> the warning colour shown when no incident tier exists yet.
TIER_OF_PRIORITY = {priority.value: Tier.of_priority(priority).value for priority in Priority}
TIER_COLOUR = {"blue": "#1e6fd9", "yellow": "#e0b000", "orange": "#f57c00", "red": "#d32f2f"}


@dataclass(frozen=True, slots=True)
class ChecklistLine:
    """One thing to do, in both languages."""

    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """Everything a message says: what, where, how much, since when, what to do, and where to look."""

    rule: str
    status: str  # "firing" or "resolved"
    tier: str  # blue/yellow/orange/red
    priority: str
    site: str
    site_name: str
    zone: str
    sensor_id: str
    device_id: str
    kind: str
    unit: str
    lat: float | None
    lon: float | None
    value: float | None
    level: float | None
    since: float
    ended_at: float | None
    summary: str
    console_url: str
    alarm_id: int | None = None
    incident_id: int | None = None
    drill: bool = False
    checklist: tuple[ChecklistLine, ...] = ()
    body: str = ""  # free text from the plan engine's pages
    assessment: str = ""  # the live release assessment's page lines (advice, labelled so), when one exists

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (stored in the outbox row)."""
        return dataclasses.asdict(self)

    @classmethod
    def plan_page(
        cls,
        *,
        rule: str,
        resolved: bool,
        tier: str,
        since: float,
        summary: str,
        console_url: str,
        body: str,
        drill: bool,
        incident_id: int | None,
        alarm_id: int | None = None,
        site: str = "",
        site_name: str = "",
        zone: str = "",
        assessment: str = "",
    ) -> AlertFacts:
        """Facts of a page from the plan engine: about an incident, so no single sensor, value or level."""
        return cls(
            rule=rule,
            status="resolved" if resolved else "firing",
            tier=tier,
            priority="",
            site=site,
            site_name=site_name,
            zone=zone,
            sensor_id="",
            device_id="",
            kind="",
            unit="",
            lat=None,
            lon=None,
            value=None,
            level=None,
            since=since,
            ended_at=None,
            summary=summary,
            console_url=console_url,
            alarm_id=alarm_id,
            incident_id=incident_id,
            drill=drill,
            body=body,
            assessment=assessment,
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AlertFacts:
        """Inverse of ``to_json``."""
        checklist = tuple(ChecklistLine(**line) for line in data.get("checklist", ()))
        return cls(**{**data, "checklist": checklist})
