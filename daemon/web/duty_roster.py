"""Who is on duty now, per role, and how to reach them (the console's roster box)."""

from __future__ import annotations

import re
from typing import Any

from plans.roster import Roster

_PLACEHOLDER = re.compile(r"^\$\{[A-Z0-9_]+\}$")


def on_duty_now(roster: Roster, now: float, environ: dict[str, str]) -> list[dict[str, Any]]:
    """Each role with the people holding it at ``now`` and their channels, most preferred first.

    Addresses in the roster are ``${ENV}`` placeholders (never committed); the console shows the resolved address
    when the service has it, else the channel type only, so nobody dials a placeholder.
    """
    out = []
    for role in roster.roles:
        people = []
        for person in roster.on_duty(role.id, now):
            channels = []
            for channel in person.channels:
                address = channel.address
                if _PLACEHOLDER.match(address):
                    address = environ.get(address[2:-1], "")
                channels.append({"type": channel.type, "address": address})
            people.append({"id": person.id, "name": person.name, "channels": channels})
        out.append({"role": role.id, "role_name": role.name, "people": people})
    return out
