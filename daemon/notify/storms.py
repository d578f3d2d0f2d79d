"""Page storms: pages to one person on one channel within a short window become one message.

The first page to a person goes out at once; pages that come due while a message to the same person and channel went
out less than ``storm_window_s`` ago wait for the window's end and then go out as one message ("3 new pages").
The first page of an urgent (red) tier in a window never waits. Pure: the worker passes what it claimed and what
was sent recently, and applies the decision.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from daemon.notify.outbox import row_tier

URGENT_TIERS = frozenset({"red"})


@dataclass
class StormDecision:
    """What to send now (with how many pages each message stands for), what waits until when, what rides along."""

    send: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    wait: list[tuple[int, float]] = field(default_factory=list)  # (row id, next attempt)
    merged: list[tuple[int, int]] = field(default_factory=list)  # (row id, the row id whose message carries it)


def person_of(row: Mapping[str, Any]) -> str | None:
    """The person a chain row pages (the chain key ends in the person id); None for route rows."""
    chain = row.get("chain_key")
    return None if chain is None else str(chain).rsplit("/", 1)[-1]


def plan_storms(
    rows: Sequence[dict[str, Any]],
    last_sent: Mapping[tuple[str, str], float],
    last_urgent: Mapping[tuple[str, str], float],
    now: float,
    window_s: float,
) -> StormDecision:
    """Group the claimed rows per (person, channel); see the module docstring for the rule.

    ``last_sent`` and ``last_urgent``: when the latest message, and the latest urgent one, went to that person and
    channel.
    """
    decision = StormDecision()
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        person = person_of(row)
        if person is None or window_s <= 0:
            decision.send.append((row, 1))
        else:
            groups[(person, str(row["channel"]))].append(row)
    for key, members in groups.items():
        members.sort(key=lambda r: (float(r["created_at"]), int(r["id"])))
        last = last_sent.get(key)
        if last is not None and now - last < window_s:
            urgent = next((r for r in members if row_tier(r) in URGENT_TIERS), None)
            urgent_sent = last_urgent.get(key)
            if urgent is None or (urgent_sent is not None and now - urgent_sent < window_s):
                urgent = None  # no urgent page, or one already went out in this window
            else:
                decision.send.append((urgent, 1))  # the first urgent page of the window never waits
            decision.wait += [(int(r["id"]), last + window_s) for r in members if r is not urgent]
            continue
        first, rest = members[0], members[1:]
        decision.send.append((first, len(members)))
        decision.merged += [(int(r["id"]), int(first["id"])) for r in rest]
    return decision
