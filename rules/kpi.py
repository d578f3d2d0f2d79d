"""Alarm-system performance KPIs (ISA-18.2 / EEMUA 191), computed from stored transitions over any window."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from rules.alarm import ANNUNCIATED_ACTIVE, AlarmTransition
from rules.model import Priority

PERIOD_S = 600.0  # the 10-minute period the KPIs are stated in
FLOOD_ALARMS = 10  # more than this many alarms in a period is a flood
CHATTER_TRANSITIONS = 3
CHATTER_WINDOW_S = 60.0
STALE_S = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class AlarmKpis:
    """KPIs for one window; compare with ~1 alarm per 10 min and an 80/15/5 % low/medium/high split."""

    start: float
    end: float
    alarms: int  # annunciations (new, re-raised and re-alarmed)
    alarms_per_10min: float
    peak_alarms_per_10min: int
    periods_in_flood_pct: float  # share of 10-min periods with more than 10 alarms, 0-100
    chattering_alarms: tuple[str, ...]  # alarm ids with >= 3 annunciations within 60 s
    stale_alarms: tuple[str, ...]  # alarm ids annunciated active for more than 24 h at the window end
    priority_share_pct: dict[Priority, float]  # share of annunciations per priority, 0-100


def alarm_kpis(transitions: Iterable[AlarmTransition], start: float, end: float) -> AlarmKpis:
    """Compute the KPIs of ``[start, end)`` from transitions (those before ``start`` give the standing state)."""
    if end <= start:
        raise ValueError("the window must end after it starts")
    ordered = sorted(transitions, key=lambda t: t.time)
    n_periods = math.ceil((end - start) / PERIOD_S)
    per_period = [0] * n_periods
    by_priority: dict[Priority, int] = dict.fromkeys(Priority, 0)
    annunciations: dict[str, list[float]] = defaultdict(list)
    active_since: dict[str, float] = {}
    for tr in ordered:
        if tr.time >= end:
            break
        # the standing state at the window end, from the whole history up to it
        if tr.to_state in ANNUNCIATED_ACTIVE:
            active_since.setdefault(tr.alarm_id, tr.time)
        else:
            active_since.pop(tr.alarm_id, None)
        if tr.time < start or not tr.is_annunciation:
            continue
        per_period[int((tr.time - start) // PERIOD_S)] += 1
        by_priority[tr.priority] += 1
        annunciations[tr.alarm_id].append(tr.time)
    total = sum(per_period)
    chattering = tuple(sorted(a for a, times in annunciations.items() if _chatters(times)))
    stale = tuple(sorted(a for a, since in active_since.items() if end - since > STALE_S))
    return AlarmKpis(
        start=start,
        end=end,
        alarms=total,
        alarms_per_10min=total / ((end - start) / PERIOD_S),
        peak_alarms_per_10min=max(per_period),
        periods_in_flood_pct=100.0 * sum(c > FLOOD_ALARMS for c in per_period) / n_periods,
        chattering_alarms=chattering,
        stale_alarms=stale,
        priority_share_pct={p: (100.0 * c / total if total else 0.0) for p, c in by_priority.items()},
    )


def _chatters(times: list[float]) -> bool:
    """Whether any 60-s window holds >= 3 of these (sorted) times."""
    k = CHATTER_TRANSITIONS - 1
    return any(times[i + k] - times[i] <= CHATTER_WINDOW_S for i in range(len(times) - k))
