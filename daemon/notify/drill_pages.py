"""Drill pages go to drill routes, and only there.

In a drill the plan engine still pages roles from the roster, but ``AlarmFlow`` records those pages on the console
only (addressed ``drill:<address>``, never sent), so a drill never reaches a real person's phone. This router
addresses each incident page of a drill also to the recipients of the drill routes (``notify.routes`` with
``drill = true``) that match it, so a drill exercises real delivery: to drill destinations only, every message
marked DRILL / 演练 on its first line. A page matches a drill route when its tier is at least the route's
``min_priority`` (blue ≥ low, yellow ≥ medium, orange ≥ high, red = urgent) and, where the route names kinds or zones,
one of the page's alarms is of such a kind or in such a zone.

Single-alarm pages are left to the direct alarm routes (``AlarmNotifier`` with ``drill=True``), which send the
same alarm to the same drill routes with its full facts; routing both would page the drill room twice.
"""

from __future__ import annotations

from dataclasses import replace

from daemon.chain.recorder import QueuedPage
from daemon.errors import ConfigError
from daemon.notify.config import NotifyConfig
from daemon.notify.model import AlertFacts
from daemon.notify.routes import IntentSink
from plans.incident import NotificationKind
from plans.roster import Roster
from rules.model import PRIORITY_RANK
from rules.sensor_table import SensorTable


def roster_conflicts(config: NotifyConfig, roster: Roster) -> list[str]:
    """Drill destinations that are also a roster channel: a drill must never reach the people on duty."""
    roster_targets: dict[tuple[str, str], str] = {
        (channel.type, channel.address): person.id for person in roster.people for channel in person.channels
    }
    return [
        f"notify: the drill destination {kind} {where} is also a roster channel of {roster_targets[(kind, where)]}; "
        "give drills their own destination"
        for kind, where in sorted(config.drill_targets())
        if (kind, where) in roster_targets
    ]


def check_drill_destinations(config: NotifyConfig, roster: Roster) -> None:
    """Raise ``ConfigError`` when a drill destination is a roster channel (live routes are checked by the config)."""
    issues = roster_conflicts(config, roster)
    if issues:
        raise ConfigError(issues)


class DrillPageRouter:
    """Page listener of a drill's alarm flow: queues each incident page for the matching drill routes."""

    def __init__(self, config: NotifyConfig, table: SensorTable, sink: IntentSink, *, key_prefix: str) -> None:
        self._config = config
        self._table = table
        self._sink = sink
        self._key_prefix = key_prefix  # the drill run, so keys of two runs of one recording differ

    def page_queued(self, queued: QueuedPage) -> None:
        """Queue the page's drill deliveries with its console rows (same commit)."""
        page = queued.page
        if not page.drill or page.kind is NotificationKind.ALARM:
            return
        targets = self.targets(queued)
        if not targets:
            return
        # The same intent, addressed to the drill routes' targets instead of the people (who got console records).
        drill_page = replace(
            page, notification_id=f"{self._key_prefix}page:{page.notification_id}", recipients=(), targets=targets
        )
        self._sink.add_intent(drill_page, self._facts(queued))

    def targets(self, queued: QueuedPage) -> tuple[str, ...]:
        """Every target a matching drill route names, once each, in route order."""
        tier = queued.page.tier
        rank = tier.alarm_priority.rank if tier is not None else 0
        kinds = {self._table.sensors[s].kind.value for s in queued.sensors}
        zones = {self._table.zone[s] for s in queued.sensors}
        names: dict[str, None] = {}
        for route in self._config.drill_routes():
            if rank < PRIORITY_RANK[route.min_priority]:
                continue
            if route.kinds and not kinds.intersection(route.kinds):
                continue
            if route.zones and not zones.intersection(route.zones):
                continue
            names.update(dict.fromkeys(route.recipients))
        return tuple(names)

    def _facts(self, queued: QueuedPage) -> AlertFacts:
        page, table = queued.page, self._table
        console = self._config.console_url.rstrip("/")
        anchor = f"#incident-{queued.incident_row}" if queued.incident_row is not None else ""
        zones = sorted({table.zone[s] for s in queued.sensors})
        return AlertFacts.plan_page(
            rule=page.kind.value,
            resolved=page.kind is NotificationKind.RESOLVE,
            tier=page.tier.value if page.tier is not None else "blue",
            site=table.site.site,
            site_name=table.site.name,
            zone=", ".join(zones),
            since=page.time,
            summary=page.subject,
            console_url=f"{console}/{anchor}",
            alarm_id=queued.alarm_row,
            incident_id=queued.incident_row,
            drill=True,
            body=page.body,
        )
