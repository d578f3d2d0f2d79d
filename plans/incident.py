"""What an incident is made of, and what the incident engine hands the daemon to store and deliver."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from plans.model import Tier


class IncidentStatus(StrEnum):
    """An incident is open until a person closes it after every alarm has returned to normal."""

    OPEN = "open"
    ALL_CLEAR = "all_clear"  # every alarm returned to normal; waiting for a person to close it
    CLOSED = "closed"


class NotificationKind(StrEnum):
    """Why a notification is sent."""

    OPEN = "open"
    TIER_CHANGE = "tier_change"
    ESCALATION = "escalation"
    REMINDER = "reminder"
    RESOLVE = "resolve"
    ALARM = "alarm"  # a single alarm outside any incident
    ALARM_RESOLVED = "resolved"  # a single alarm returned to normal (alarm routes only)
    FLOOD = "flood"  # an alarm flood opened a grouping incident


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of an incident's timeline (alarms, tier changes, pages, acks, checklist, comments, reports)."""

    incident_id: str
    time: float
    kind: str
    actor: str
    text: str
    ref: str = ""  # the alarm, notification, action or report it is about
    drill: bool = False


@dataclass(frozen=True, slots=True)
class Recipient:
    """A person to reach, resolved from the roster at the time of the page."""

    person_id: str
    name: str
    role: str
    channels: tuple[tuple[str, str], ...]  # (type, address placeholder), most preferred first


@dataclass(frozen=True, slots=True)
class NotificationIntent:
    """What to tell whom: the one intent type of the plan engine's pages and the daemon's alarm routes.

    ``recipients`` are people from the roster, each paged down their channel chain; ``targets`` name configured
    system destinations (webhooks, Alertmanager, group robots, e-mail lists: ``notify.people`` with ``notify.routes``),
    which get every channel at once. ``daemon.notify.outbox`` is the one place an intent becomes outbox rows.
    Drill pages reach people only as console records; only drill routes deliver them.
    """

    notification_id: str
    kind: NotificationKind
    time: float
    incident_id: str | None
    tier: Tier | None
    roles: tuple[str, ...]
    recipients: tuple[Recipient, ...]
    subject: str
    body: str
    ack_deadline: float | None  # escalates to the next role if nobody acknowledges by then
    escalation_step: int = 0
    alarm_ids: tuple[str, ...] = ()
    drill: bool = False
    channel_timeout_s: float | None = None  # per channel of a person; None: the ack deadline shared among them
    all_channels: bool = False  # urgent: every channel of each person at once
    targets: tuple[str, ...] = ()  # system destinations by name, each channel at once, no acknowledgement


@dataclass
class ActionItem:
    """A checklist item of an incident."""

    action_id: str
    text: str
    role: str
    tier: Tier
    done_by: str = ""
    done_at: float | None = None


@dataclass
class ReportItem:
    """A report the incident owes."""

    report_id: str
    name: str
    to: str
    role: str
    due_at: float
    sent_by: str = ""
    sent_at: float | None = None
    last_reminder_at: float | None = None


@dataclass
class Incident:
    """An emergency incident at one site."""

    incident_id: str
    site: str
    opened_at: float
    drill: bool
    proposed_tier: Tier | None  # from the measurements; None for an alarm-flood grouping without a tier
    confirmed_tier: Tier | None = None  # the response level a person confirmed
    confirmed_by: str = ""
    status: IncidentStatus = IncidentStatus.OPEN
    alarm_ids: list[str] = field(default_factory=list)
    trigger_ids: list[str] = field(default_factory=list)
    actions: dict[str, ActionItem] = field(default_factory=dict)
    reports: dict[str, ReportItem] = field(default_factory=dict)
    timeline: list[TimelineEntry] = field(default_factory=list)
    closed_at: float | None = None
    closed_by: str = ""
    # The group of alarms it gathers (plans.model.Grouping); a plain default, so older checkpoints unpickle as "site".
    group: str = "site"


@dataclass
class IncidentChanges:
    """What one engine call produced: timeline lines to store and notifications to deliver.

    ``details`` holds structured facts about some timeline lines, by their position in ``timeline`` (a tier change's
    from/to tier and whether it was proposed or confirmed; an escalation's step, role and why), so a record of the
    incident need not parse the text.
    """

    timeline: list[TimelineEntry] = field(default_factory=list)
    notifications: list[NotificationIntent] = field(default_factory=list)
    details: dict[int, dict[str, object]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.timeline or self.notifications)
