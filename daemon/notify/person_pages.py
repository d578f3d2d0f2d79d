"""The one place a page becomes outbox rows: per person, a chain of their roster channels, plus an ack link.

A person's first channel is sent at once; each later channel is ``held`` until the one before it failed, gave up or
was not acknowledged within the step's time (the worker's ``advance_chains`` releases it). Urgent tiers page every
channel at once. Every row carries the same payload form as alarm-route rows (``facts`` + ``target`` + ``extra``),
so the worker decodes one form.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from daemon.notify.config import NotifyConfig, channel_destination
from daemon.notify.model import AlertFacts
from daemon.notify.page_links import issue
from plans.incident import NotificationIntent, Recipient

log = logging.getLogger(__name__)

DEFAULT_STEP_S = 120.0  # a page without an ack deadline (single alarm, reminder): each channel gets two minutes
LINK_LIFETIME_S = 24 * 3600.0


def _no_assessment(alarm_keys: Sequence[str], incident_id: str | None) -> str:
    return ""


@dataclass
class PageRows:
    """The outbox rows and link rows one page adds."""

    notifications: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)


def step_timeout_s(note: NotificationIntent, channels: int) -> float:
    """Time each channel gets: the tier's per-channel timeout, else the ack deadline shared among the channels."""
    if note.channel_timeout_s is not None:
        return note.channel_timeout_s
    if note.ack_deadline is not None and channels:
        return max((note.ack_deadline - note.time) / channels, 1.0)
    return DEFAULT_STEP_S


class PersonPages:
    """Turns plan-engine pages into rows; holds the link key and the console address links point to."""

    def __init__(self, config: NotifyConfig, key: bytes) -> None:
        self._config = config
        self._key = key
        self.site = ("", "")  # (site id, site name) the pages are about; the alarm flow sets it
        # The live release assessment's lines for the alarms a page is about (the service sets it); none by default.
        self.assessment: Callable[[Sequence[str], str | None], str] = _no_assessment

    def rows(
        self, note: NotificationIntent, *, incident_row: int | None, alarm_row: int | None, key_prefix: str
    ) -> PageRows:
        """Every row of one page: per person a chain (or, in a drill, one console record)."""
        page_id = f"{key_prefix}{note.notification_id}"
        out = PageRows()
        recipients = note.recipients or (Recipient("duty-console", "nobody on duty", "", ()),)
        for person in recipients:
            chain_key = f"{page_id}/{person.person_id}"
            channels = list(person.channels)
            if note.drill or not channels:
                # A drill never reaches a real phone or chat: its pages are recorded for the console and report.
                address = f"drill:{channels[0][1]}" if note.drill and channels else person.name
                channels = [("console", address)]
            expires_at = note.time + LINK_LIFETIME_S
            link = issue(self._key, page_id, person.person_id, expires_at)
            out.links.append(
                {"token_hash": link.token_hash, "code": link.code, "page_id": page_id, "chain_key": chain_key,
                 "person_id": person.person_id, "incident_id": incident_row, "created_at": note.time,
                 "expires_at": expires_at, "used_at": None, "used_via": None, "answer": None, "drill": note.drill}
            )  # fmt: skip
            extra = {
                "ack_url": f"{self._config.console_url.rstrip('/')}/a/{link.token}",
                "ack_code": link.code,
                "person": person.name,
                "person_id": person.person_id,
                "page_id": page_id,
            }
            timeout = step_timeout_s(note, len(channels))
            for step, (channel, address) in enumerate(channels):
                held = step > 0 and not note.all_channels
                out.notifications.append(
                    self._row(
                        note, page_id, chain_key, step, timeout, held, person, channel, address, extra, incident_row
                    )
                    | {"incident_id": incident_row, "alarm_id": alarm_row}
                )
        return out

    def _assessment_of(self, note: NotificationIntent) -> str:
        try:
            return self.assessment(note.alarm_ids, note.incident_id)
        except Exception:  # the assessment is extra: a page goes out without it rather than not at all
            log.exception("could not add the release assessment to page %s", note.notification_id)
            return ""

    def _row(
        self,
        note: NotificationIntent,
        page_id: str,
        chain_key: str,
        step: int,
        timeout: float,
        held: bool,
        person: Recipient,
        channel: str,
        address: str,
        extra: dict[str, Any],
        incident_row: int | None,
    ) -> dict[str, Any]:
        destination = "address" if channel == "console" else channel_destination(channel)
        target = {"type": channel, "url": None, "address": None, "secret_env": None}
        if destination in ("url", "address"):
            target[destination] = address
        else:
            target["address"] = address
        facts = AlertFacts.plan_page(
            rule=note.kind.value,
            resolved=note.kind.value == "resolve",
            tier=note.tier.value if note.tier else "blue",
            since=note.time,
            summary=note.subject,
            console_url=f"{self._config.console_url.rstrip('/')}/#incident-{incident_row}"
            if incident_row is not None
            else self._config.console_url,
            body=note.body,
            drill=note.drill,
            incident_id=incident_row,
            site=self.site[0],
            site_name=self.site[1],
            assessment=self._assessment_of(note),
        )
        payload = {
            "notification_id": note.notification_id,
            "kind": note.kind.value,
            "tier": note.tier.value if note.tier else None,
            "subject": note.subject,
            "roles": list(note.roles),
            "ack_deadline": note.ack_deadline,
            "escalation_step": note.escalation_step,
            "recipient": {"name": person.name, "channels": [list(c) for c in person.channels]},
            "facts": facts.to_json(),
            "target": target,
            "extra": extra,
        }
        return {
            "idempotency_key": f"{chain_key}/{step}",
            "event": note.kind.value,
            "channel": channel,
            "recipient": address,
            "role": person.role or None,
            "language": "zh",
            "payload": json.dumps(payload, ensure_ascii=False),
            "state": "held" if held else "pending",
            "attempts": 0,
            "next_attempt_at": note.time,
            "created_at": note.time,
            "page_id": page_id,
            "chain_key": chain_key,
            "chain_step": step,
            "step_timeout_s": timeout,
            "released_at": None if held else note.time,
        }
