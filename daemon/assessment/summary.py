"""Release estimates as plain data, and how they compare with a drill scenario's true release."""

from __future__ import annotations

import math
from typing import Any

from daemon.assessment.runner import Assessment, AssessmentRunner


def _finite(value: float) -> float | None:
    return round(value, 3) if math.isfinite(value) else None


REPORT_AFTER_S = 600.0  # the drill report judges the estimate made 10 minutes after the first one (the benchmark's)


def _entry(assessment: Assessment) -> dict[str, Any]:
    e = assessment.estimate
    return {
        "time": e.time_s,
        "status": e.status.value,
        "reason": e.reason,
        "candidate": e.best_candidate,
        "east_m": _finite(e.east_m),
        "north_m": _finite(e.north_m),
        "rate_g_s": _finite(e.rate_g_s),
        "rate_interval_g_s": [_finite(v) for v in e.rate_interval_g_s],
        "rate_uncertain": e.rate_uncertain,
        "rate_lower_bound": e.rate_lower_bound,
        "start_time": _finite(e.start_s),
        "region_candidates": list(e.region_candidates),
        "candidates": {c.id: round(c.probability, 3) for c in e.candidates},
        "rate_factor_90": _finite(e.rate_factor_90),
        "triggers": {
            name: {"holds": t.holds, "probability": t.probability, "reason": t.reason}
            for name, t in assessment.triggers.items()
        },
        "people_in_zone": {
            level.name: sum(r.people_by_zone.get(level.name, 0) for r in assessment.receptors)
            for level in assessment.levels
        },
    }


def estimates_of(runner: AssessmentRunner | None) -> dict[str, dict[str, Any]]:
    """Per substance: the estimate made 10 minutes after the first (or the last, if the alarm ended sooner), and
    the minute-by-minute history of status, candidate and rate."""
    if runner is None:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for substance, history in sorted(runner.history.items()):
        first = history[0].time_s
        judged = next((a for a in history if a.time_s >= first + REPORT_AFTER_S), history[-1])
        out[substance] = {
            **_entry(judged),
            "history": [
                {
                    "time": a.time_s,
                    "status": a.estimate.status.value,
                    "candidate": a.estimate.best_candidate,
                    "rate_g_s": _finite(a.estimate.rate_g_s),
                    "triggers": {name: t.reason for name, t in a.triggers.items()},
                }
                for a in history
            ],
        }
    return out


def against_truth(estimates: dict[str, dict[str, Any]], truth: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each true toxic release beside the last estimate for its gas: location error (m), rate factor, start error."""
    rows: list[dict[str, Any]] = []
    for event in (truth or {}).get("events", []):
        if event.get("type") != "toxic_release":
            continue
        estimate = estimates.get(event.get("gas", ""))
        row: dict[str, Any] = {"event": event.get("id"), "gas": event.get("gas"), "estimate": estimate}
        where = event.get("location") or {}
        if estimate is not None and estimate["east_m"] is not None and "east_m" in where:
            row["location_error_m"] = round(
                math.hypot(estimate["east_m"] - where["east_m"], estimate["north_m"] - where["north_m"]), 1
            )
        if estimate is not None and estimate["rate_g_s"] and event.get("rate_g_s"):
            ratio = estimate["rate_g_s"] / float(event["rate_g_s"])
            row["rate_factor"] = round(max(ratio, 1 / ratio), 2)
            low, high = estimate["rate_interval_g_s"]
            row["rate_in_interval"] = low is not None and high is not None and low <= event["rate_g_s"] <= high
        if estimate is not None and estimate["start_time"] is not None and "start" in event:
            row["start_error_s"] = round(estimate["start_time"] - float(event["start"]), 1)
        rows.append(row)
    return rows
