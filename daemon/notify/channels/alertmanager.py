"""Prometheus Alertmanager v2 API: alerts POSTed to ``/api/v2/alerts`` so an existing Alertmanager routes them.

Labels identify the alert (Alertmanager groups and dedupes on them), annotations carry the text. A firing alert
has no ``endsAt`` and must be re-sent while it fires; a resolved one carries ``endsAt``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from daemon.notify.channels.base import Delivery, HttpPoster, expand
from daemon.notify.model import AlertFacts
from daemon.notify.render import render


def iso(when: float) -> str:
    """RFC 3339 UTC time for a unix time."""
    return dt.datetime.fromtimestamp(when, dt.UTC).isoformat().replace("+00:00", "Z")


def alert_labels(facts: AlertFacts) -> dict[str, str]:
    """Identifying labels; routing trees usually match on severity, site, zone and alertname."""
    labels = {
        "alertname": facts.rule,
        "severity": facts.priority,
        "tier": facts.tier,
        "site": facts.site,
        "zone": facts.zone,
        "sensor": facts.sensor_id,
        "device": facts.device_id,
        "kind": facts.kind,
        "source": "hazwatch",
        "drill": "true" if facts.drill else "false",
    }
    if facts.alarm_id is not None:
        labels["alarm_id"] = str(facts.alarm_id)
    if facts.incident_id is not None:
        labels["incident_id"] = str(facts.incident_id)
    return labels


def alert_document(facts: AlertFacts, language: str, utc_offset_h: float, now: float) -> dict[str, Any]:
    """One postable alert (``models.PostableAlert``)."""
    message = render(facts, language, utc_offset_h)
    alert: dict[str, Any] = {
        "labels": alert_labels(facts),
        "annotations": {
            "summary": message.title,
            "description": message.text,
            "value": "" if facts.value is None else f"{facts.value:g} {facts.unit}",
            "level": "" if facts.level is None else f"{facts.level:g} {facts.unit}",
            "console": facts.console_url,
        },
        "startsAt": iso(facts.since),
        "generatorURL": facts.console_url,
    }
    if facts.status == "resolved":
        alert["endsAt"] = iso(facts.ended_at if facts.ended_at is not None else now)
    return alert


class AlertmanagerChannel:
    """POSTs single-alert lists to the target's ``/api/v2/alerts``."""

    def __init__(self, poster: HttpPoster, environ: Mapping[str, str], utc_offset_h: float) -> None:
        self._poster = poster
        self._environ = environ
        self._utc_offset_h = utc_offset_h

    async def send(self, delivery: Delivery) -> None:
        """Deliver (or re-send) one alert."""
        base = expand(delivery.target.url or "", self._environ).rstrip("/")
        document = [alert_document(delivery.facts, delivery.language, self._utc_offset_h, delivery.now)]
        await self._poster.post_json(f"{base}/api/v2/alerts", document)

    async def close(self) -> None:
        """Nothing of its own to close."""
