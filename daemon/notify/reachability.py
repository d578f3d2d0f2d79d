"""Can the configuration reach everyone? Placeholders resolved, a deliverable channel per person, every role
filled at every hour of the week. ``check-config`` prints these; each line says what to fix."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from daemon.notify.channels.base import HttpPoster
from daemon.notify.channels.registry import CHANNEL_KINDS, SenderContext, build_senders, undeliverable_reason
from daemon.notify.config import NotifyConfig
from plans.roster import Roster

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONDAY = dt.datetime(2024, 1, 1)  # a Monday: the reference week the shifts are checked over
STEP_MIN = 15


def unresolved(text: str, environ: Mapping[str, str]) -> list[str]:
    """The ``${VAR}`` names in ``text`` that the environment does not set (or sets empty)."""
    return [name for name in _PLACEHOLDER.findall(text) if not environ.get(name)]


def delivery_issues(roster: Roster, config: NotifyConfig, environ: Mapping[str, str]) -> list[str]:
    """Unset placeholders, missing provider secrets, and people no channel of this configuration can reach."""
    issues = [
        f"notify.providers: environment variable {name} is not set"
        for name in config.providers.secret_variables()
        if not environ.get(name)
    ]
    senders = build_senders(SenderContext(HttpPoster(1.0), environ, config))
    for person in roster.people:
        reasons = []
        for channel in person.channels:
            missing = unresolved(channel.address, environ)
            if missing:
                issues.append(
                    f"roster: {person.id}: {channel.type} address {channel.address}: "
                    f"{', '.join(missing)} not set in the environment"
                )
                reasons.append(f"{channel.type}: unresolved {', '.join(missing)}")
                continue
            why = undeliverable_reason(channel.type, senders)
            if why is not None:
                reasons.append(f"{channel.type}: {why}")
            elif CHANNEL_KINDS[channel.type].build is None:
                reasons.append(f"{channel.type}: only shown on the console")
            else:
                break  # this channel can deliver
        else:
            issues.append(f"roster: {person.id} has no channel this configuration can deliver ({'; '.join(reasons)})")
    return issues


def coverage_issues(roster: Roster) -> list[str]:
    """Roles nobody fills at some hour of the week (checked every 15 minutes of local time), naming the hours."""
    issues = []
    holders = {role.id: [p.id for p in roster.people if role.id in p.roles] for role in roster.roles}
    for role in roster.roles:
        if not holders[role.id]:
            issues.append(f"roster: role {role.id} is held by nobody")
            continue
        shifts = [s for s in roster.shifts if s.role == role.id]
        if not shifts:
            continue  # no shifts: everyone holding the role is paged, at any hour
        gaps: list[str] = []
        for minute in range(0, 7 * 24 * 60, STEP_MIN):
            local = MONDAY + dt.timedelta(minutes=minute)
            label = f"{WEEKDAYS[local.weekday()]} {local:%H}:00"
            if not any(s.covers(local) for s in shifts) and label not in gaps:
                gaps.append(label)
        if gaps:
            shown = ", ".join(gaps[:6]) + (f" and {len(gaps) - 6} more hours" if len(gaps) > 6 else "")
            issues.append(f"roster: role {role.id} has no one on shift at {shown} (local time)")
    return issues


def unknown_channel_types(roster: Roster) -> list[str]:
    """Roster channels of a type the registry does not know."""
    return [
        f"roster: {person.id}: unknown channel type {channel.type!r}; known: {', '.join(sorted(CHANNEL_KINDS))}"
        for person in roster.people
        for channel in person.channels
        if channel.type not in CHANNEL_KINDS
    ]
