"""The one place a notification intent becomes outbox rows, committed in the same transaction as their cause.

An intent (``plans.incident.NotificationIntent``, from the plan engine or an alarm route) names people and system
targets; the facts say what every channel renders. For a person the rows are a chain of their roster channels plus a
signed acknowledgement link: the first channel is sent at once, each later one is ``held`` until the one before it
failed, gave up or was not acknowledged within the step's time (``daemon.notify.chains`` releases it); urgent tiers
page every channel at once, and a drill reaches people only as a console record. A system target (``notify.targets``
named by a route) gets every channel at once. Every row stores one payload form, ``RowPayload``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict

from daemon.notify.config import NotifyConfig, channel_destination
from daemon.notify.model import AlertFacts
from daemon.notify.page_links import issue
from daemon.store.rows import NotificationRow, PageLinkRow
from plans.incident import NotificationIntent, NotificationKind, Recipient

log = logging.getLogger(__name__)
KEY_LIMIT = 200  # notifications.idempotency_key is String(200)
DEFAULT_STEP_S = 120.0  # a page without an ack deadline (single alarm, reminder): each channel gets two minutes
LINK_LIFETIME_S = 24 * 3600.0
NOBODY_ON_DUTY = Recipient("duty-console", "nobody on duty", "", ())


class RowPayload(TypedDict):
    """The ``payload`` column of every outbox row: what the worker delivers and the acknowledgement page shows."""

    notification_id: str
    kind: str
    tier: str  # blue/yellow/orange/red: the page's tier, else the colour of its alarm's priority (facts.tier)
    subject: str
    roles: list[str]
    ack_deadline: float | None
    escalation_step: int
    facts: dict[str, Any]  # AlertFacts.to_json()
    target: dict[str, Any]  # ChannelTarget.model_dump()
    extra: dict[str, Any]  # a person's page: ack_url, ack_code, person, person_id, page_id


@dataclass
class PageRows:
    """The outbox rows and link rows one intent adds."""

    notifications: list[NotificationRow] = field(default_factory=list)
    links: list[PageLinkRow] = field(default_factory=list)


def row_key(intent_key: str, recipient: str, index: int, channel: str) -> str:
    """The idempotency key of one system delivery: event key + target + channel slot (hashed if too long)."""
    key = f"{intent_key}|{recipient}|{index}:{channel}"
    if len(key) <= KEY_LIMIT:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[: KEY_LIMIT - 65]}#{digest}"


def row_tier(row: Mapping[str, Any]) -> str:
    """The warning tier of an outbox row ("" when its payload cannot be read)."""
    try:
        return str(json.loads(row["payload"])["tier"] or "")
    except (ValueError, TypeError, KeyError, AttributeError):
        return ""


def engine_page_id(payload: str | None) -> str | None:
    """The incident engine's id of a page (``RowPayload.notification_id``), from an outbox row's payload column."""
    if not payload:
        return None
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    value = data.get("notification_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def step_timeout_s(note: NotificationIntent, channels: int) -> float:
    """Time each channel gets: the tier's per-channel timeout, else the ack deadline shared among the channels."""
    if note.channel_timeout_s is not None:
        return note.channel_timeout_s
    if note.ack_deadline is not None and channels:
        return max((note.ack_deadline - note.time) / channels, 1.0)
    return DEFAULT_STEP_S


class Outbox:
    """Turns intents into rows; holds the notify configuration, the link key and the site pages are about."""

    def __init__(self, config: NotifyConfig, key: bytes) -> None:
        self._config = config
        self._key = key
        self.site = ("", "")  # (site id, site name) of plan pages; the recorder sets it
        # The assessments whose lines a plan page carries, each for the alarms and incident the page is about ("" when
        # it has nothing for them): the service sets the release estimate's and the gamma search's page_summary.
        self.assessments: tuple[Callable[[Sequence[str], str | None], str], ...] = ()

    def rows(
        self,
        intent: NotificationIntent,
        facts: AlertFacts | None = None,
        *,
        incident_row: int | None = None,
        alarm_row: int | None = None,
        key_prefix: str = "",
    ) -> PageRows:
        """Every row of one intent. ``facts`` default to a plan page's (about an incident, no single sensor)."""
        facts = facts if facts is not None else self.page_facts(intent, incident_row)
        incident_row = incident_row if incident_row is not None else facts.incident_id
        alarm_row = alarm_row if alarm_row is not None else facts.alarm_id
        out = PageRows()
        if intent.recipients or not intent.targets:
            for person in intent.recipients or (NOBODY_ON_DUTY,):
                self._person(
                    out, intent, facts, person, incident_row, alarm_row, f"{key_prefix}{intent.notification_id}"
                )
        for name in intent.targets:
            target = self._config.target(name)
            for index, channel in enumerate(target.channels):
                key = row_key(f"{key_prefix}{intent.notification_id}", target.name, index, channel.type)
                row = self._row(intent, facts, key, channel.model_dump(), target.name, {}, incident_row, alarm_row)
                row["role"] = intent.roles[0] if intent.roles else None
                row["language"] = target.language
                out.notifications.append(row)
        return out

    def page_facts(self, intent: NotificationIntent, incident_row: int | None) -> AlertFacts:
        """What a plan page says: its subject and body, tier and where to look."""
        console = self._config.console_url.rstrip("/")
        return AlertFacts.plan_page(
            rule=intent.kind.value,
            resolved=intent.kind is NotificationKind.RESOLVE,
            tier=intent.tier.value if intent.tier else "blue",
            since=intent.time,
            summary=intent.subject,
            console_url=f"{console}/#incident-{incident_row}" if incident_row is not None else self._config.console_url,
            body=intent.body,
            drill=intent.drill,
            incident_id=incident_row,
            site=self.site[0],
            site_name=self.site[1],
            assessment=self.assessment(intent.alarm_ids, intent.incident_id, intent.notification_id),
        )

    def assessment(self, alarm_keys: Sequence[str], incident_id: str | None, page: str = "") -> str:
        """The assessments' lines for a plan page about these alarms and incident, one per assessment that has one."""
        lines = []
        for summary in self.assessments:
            try:
                lines.append(summary(alarm_keys, incident_id))
            except Exception:  # an assessment is extra: a page goes out without its line rather than not at all
                log.exception("could not add an assessment to page %s", page)
        return "\n".join(line for line in lines if line)

    def _person(
        self,
        out: PageRows,
        intent: NotificationIntent,
        facts: AlertFacts,
        person: Recipient,
        incident_row: int | None,
        alarm_row: int | None,
        page_id: str,
    ) -> None:
        """A person's chain: one row per channel (in a drill, one console record) and their acknowledgement link."""
        chain_key = f"{page_id}/{person.person_id}"
        channels = list(person.channels)
        if intent.drill or not channels:
            # A drill never reaches a real phone or chat: its pages are recorded for the console and report.
            address = f"drill:{channels[0][1]}" if intent.drill and channels else person.name
            channels = [("console", address)]
        expires_at = intent.time + LINK_LIFETIME_S
        link = issue(self._key, page_id, person.person_id, expires_at)
        out.links.append(
            PageLinkRow(token_hash=link.token_hash, code=link.code, page_id=page_id, chain_key=chain_key,
                        person_id=person.person_id, incident_id=incident_row, created_at=intent.time,
                        expires_at=expires_at, used_at=None, used_via=None, answer=None, drill=intent.drill)
        )  # fmt: skip
        extra = {
            "ack_url": f"{self._config.console_url.rstrip('/')}/a/{link.token}",
            "ack_code": link.code,
            "person": person.name,
            "person_id": person.person_id,
            "page_id": page_id,
        }
        timeout = step_timeout_s(intent, len(channels))
        for step, (channel, address) in enumerate(channels):
            held = step > 0 and not intent.all_channels
            destination = "address" if channel == "console" else channel_destination(channel)
            target: dict[str, Any] = {"type": channel, "url": None, "address": None, "secret_env": None}
            target["url" if destination == "url" else "address"] = address
            row = self._row(intent, facts, f"{chain_key}/{step}", target, address, extra, incident_row, alarm_row)
            row["role"] = person.role or None
            row["state"] = "held" if held else "pending"
            row["page_id"] = page_id
            row["chain_key"] = chain_key
            row["chain_step"] = step
            row["step_timeout_s"] = timeout
            row["released_at"] = None if held else intent.time
            out.notifications.append(row)

    @staticmethod
    def _row(
        intent: NotificationIntent,
        facts: AlertFacts,
        key: str,
        target: dict[str, Any],  # ChannelTarget.model_dump()
        recipient: str,
        extra: dict[str, Any],
        incident_row: int | None,
        alarm_row: int | None,
    ) -> NotificationRow:
        """A row sent at once, outside any chain (a person's chain sets its own step fields over it)."""
        payload = RowPayload(
            notification_id=intent.notification_id,
            kind=intent.kind.value,
            tier=intent.tier.value if intent.tier else facts.tier,
            subject=intent.subject,
            roles=list(intent.roles),
            ack_deadline=intent.ack_deadline,
            escalation_step=intent.escalation_step,
            facts=facts.to_json(),
            target=target,
            extra=extra,
        )
        return NotificationRow(
            idempotency_key=key,
            incident_id=incident_row,
            alarm_id=alarm_row,
            event=intent.kind.value,
            channel=str(target["type"]),
            recipient=recipient,
            role=None,
            language="zh",
            payload=json.dumps(payload, ensure_ascii=False),
            state="pending",
            attempts=0,
            next_attempt_at=intent.time,
            created_at=intent.time,
            drill=intent.drill,
            page_id=None,
            chain_key=None,
            chain_step=None,
            step_timeout_s=None,
            released_at=intent.time,
        )


class OutboxWriter(Protocol):
    """Where outbox rows are queued to commit with their cause (the store writer)."""

    def add_notification(self, row: NotificationRow) -> None:
        """Queue one outbox row; a row whose idempotency key is already stored is skipped."""
        ...

    def add_page_link(self, row: PageLinkRow) -> None:
        """Queue the acknowledgement link of a person's page."""
        ...


class OutboxSink:
    """Queues an intent's rows on a writer, committed with the rows queued with them (store never imports notify)."""

    def __init__(self, writer: OutboxWriter, outbox: Outbox) -> None:
        self._writer = writer
        self.outbox = outbox

    def add_intent(self, intent: NotificationIntent, facts: AlertFacts) -> None:
        """Queue every row of an alarm route's intent (the ``IntentSink`` of ``daemon.notify.routes``)."""
        self.queue(self.outbox.rows(intent, facts))

    def queue(self, page: PageRows) -> None:
        """Queue rows made by ``Outbox.rows``; links and outbox rows commit in the same transaction."""
        for link in page.links:
            self._writer.add_page_link(link)
        for row in page.notifications:
            self._writer.add_notification(row)
