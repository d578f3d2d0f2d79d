"""The drill's verdict: the scenario's ``expect:`` block checked point by point against what the run did.

Each expectation is one point with the expected and the actual value and PASS or FAIL; the drill passes when
every point passes. An expectation this module does not know is a FAIL ("not checked"), never a silent pass: a
director signs the verdict, so nothing in it may be assumed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from plans.model import Tier
from rules.model import PRIORITY_RANK

TIERS = tuple(tier.value for tier in Tier)  # lowest first
HAZARD_CLASSES = frozenset({"hazard", "security", "suspicious"})

Point = dict[str, Any]


def _rank(tier: str | None) -> int:
    return TIERS.index(tier) if tier in TIERS else -1


def _tier_name(value: object) -> str | None:
    text = None if value is None else str(value).lower()
    return None if text in (None, "none", "") else text


def _point(expectation: str, expected: object, actual: object, passed: bool, note: str = "") -> Point:
    return {
        "expectation": expectation,
        "expected": expected,
        "actual": actual,
        "result": "PASS" if passed else "FAIL",
        "note": note,
    }


def _tier(expected: object, report: dict[str, Any]) -> Point:
    want, got = _tier_name(expected), report.get("highest_tier")
    return _point("tier", want or "none", got or "none", want == got, "highest tier proposed or confirmed")


def _max_tier(expected: object, report: dict[str, Any]) -> Point:
    want, got = _tier_name(expected), report.get("highest_tier")
    return _point("max_tier", want or "none", got or "none", _rank(got) <= _rank(want), "no tier above this")


def _min_tier(expected: object, report: dict[str, Any]) -> Point:
    want, got = _tier_name(expected), report.get("highest_tier")
    return _point("min_tier", want or "none", got or "none", _rank(got) >= _rank(want), "at least this tier")


def _real_events(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in (report.get("score") or {}).get("events", []) if e.get("real")]


def _first_detection_within_s(expected: object, report: dict[str, Any]) -> Point:
    limit = float(str(expected))
    events = _real_events(report)
    delays = {e["id"]: e["detection_delay_s"] for e in events}
    late = [k for k, v in delays.items() if v is None or v > limit]
    return _point(
        "first_detection_within_s",
        f"every real event detected within {limit:g} s",
        delays,
        bool(events) and not late,
        f"late or missed: {', '.join(late)}" if late else "",
    )


def _detect_within_s(expected: object, report: dict[str, Any]) -> Point:
    limits = {str(k): float(str(v)) for k, v in dict(expected).items()} if isinstance(expected, dict) else {}
    delays = {e["id"]: e["detection_delay_s"] for e in _real_events(report)}
    late = [k for k, limit in limits.items() if delays.get(k) is None or float(delays[k]) > limit]
    return _point(
        "detect_within_s",
        limits,
        {k: delays.get(k) for k in limits},
        bool(limits) and not late,
        f"late or missed: {', '.join(late)}" if late else "",
    )


def _hazard_alarms(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in report.get("alarms", []) if a["classification"] in HAZARD_CLASSES]


def _max_hazard_priority(expected: object, report: dict[str, Any]) -> Point:
    want = str(expected)
    hazard = _hazard_alarms(report)
    top = max((a["priority"] for a in hazard), key=lambda p: PRIORITY_RANK.get(p, 1), default=None)
    passed = top is None or PRIORITY_RANK.get(top, 1) <= PRIORITY_RANK.get(want, 0)
    return _point("max_hazard_priority", want, top or "no hazard alarm", passed)


def _only_quality_alarms(expected: object, report: dict[str, Any]) -> Point:
    hazard = _hazard_alarms(report)
    passed = not hazard if expected else True
    return _point("only_quality_alarms", bool(expected), f"{len(hazard)} hazard alarms", passed)


def _no_false_alarms(expected: object, report: dict[str, Any]) -> Point:
    false = (report.get("score") or {}).get("false_alarms", [])
    return _point("no_false_alarms", bool(expected), f"{len(false)} false alarms", not false or not expected)


def _alarms(expected: object, report: dict[str, Any]) -> Point:
    wanted = [str(rule) for rule in expected] if isinstance(expected, list) else [str(expected)]
    rules = sorted({a["rule"] for a in report.get("alarms", [])})
    missing = [w for w in wanted if not any(w in rule for rule in rules)]
    return _point("alarms", wanted, rules, not missing, f"not raised: {', '.join(missing)}" if missing else "")


def _alarm_sensors(expected: object, report: dict[str, Any]) -> Point:
    wanted = [str(sensor) for sensor in expected] if isinstance(expected, list) else [str(expected)]
    alarmed = sorted({a["sensor"] for a in _hazard_alarms(report)})
    missing = [w for w in wanted if w not in alarmed]
    return _point(
        "alarm_sensors", wanted, alarmed, not missing, f"no hazard alarm at: {', '.join(missing)}" if missing else ""
    )


def _page_within_s(expected: object, report: dict[str, Any]) -> Point:
    limit = float(str(expected))
    alarms = _hazard_alarms(report)
    pages = [n["created_at"] for n in report.get("notifications", []) if n["created_at"] is not None]
    if not alarms or not pages:
        return _point("page_within_s", f"first page within {limit:g} s", "nobody paged", False)
    first_alarm = min(a["raised_at"] for a in alarms)
    after = [p for p in pages if p >= first_alarm]
    delay = min(after) - first_alarm if after else None
    passed = delay is not None and delay <= limit
    return _point("page_within_s", f"first page within {limit:g} s", None if delay is None else round(delay, 3), passed)


def _acknowledged_in_time(expected: object, report: dict[str, Any]) -> Point:
    escalated = [e for i in report.get("incidents", []) for e in i.get("escalations", []) if e["type"] == "escalated"]
    passed = not escalated if expected else True
    return _point(
        "acknowledged_in_time",
        "every page acknowledged before its deadline (no escalation)",
        f"{len(escalated)} escalations",
        passed,
        "; ".join(f"{e.get('why')} -> {e.get('role')}" for e in escalated[:3]),
    )


def _reports_on_time(expected: object, report: dict[str, Any]) -> Point:
    owed = [r for i in report.get("incidents", []) for r in i.get("reports", [])]
    late = [r["name"] for r in owed if r.get("sent_at") is None or r["sent_at"] > r["due_at"]]
    passed = (not late) if expected else True
    return _point(
        "reports_on_time",
        "every report (初报/续报) sent before it is due",
        f"{len(owed) - len(late)} of {len(owed)} on time",
        passed and bool(owed or not expected),
        f"late or not sent: {', '.join(late)}" if late else "",
    )


CHECKS: dict[str, Callable[[object, dict[str, Any]], Point]] = {
    "tier": _tier,
    "max_tier": _max_tier,
    "min_tier": _min_tier,
    "first_detection_within_s": _first_detection_within_s,
    "detect_within_s": _detect_within_s,
    "max_hazard_priority": _max_hazard_priority,
    "only_quality_alarms": _only_quality_alarms,
    "no_false_alarms": _no_false_alarms,
    "alarms": _alarms,
    "alarm_sensors": _alarm_sensors,
    "page_within_s": _page_within_s,
    "acknowledged_in_time": _acknowledged_in_time,
    "reports_on_time": _reports_on_time,
}


def verdict(expect: dict[str, Any] | None, report: dict[str, Any]) -> dict[str, Any]:
    """Every expectation as a PASS/FAIL point, every real event of the ground truth as a detection point, and the
    overall result (PASS only when every point passes; no point at all is no verdict)."""
    points: list[Point] = []
    for key, expected in (expect or {}).items():
        check = CHECKS.get(key)
        if check is None:
            points.append(_point(key, expected, None, False, "this expectation is not checked by hazwatch"))
        else:
            points.append(check(expected, report))
    for event in _real_events(report):
        points.append(
            _point(
                f"detected: {event['id']}",
                "detected",
                "missed" if not event["detected"] else f"after {event['detection_delay_s']:g} s",
                bool(event["detected"]),
            )
        )
    overall = "PASS" if points and all(p["result"] == "PASS" for p in points) else "FAIL"
    return {"overall": overall if points else "NONE", "points": points}


def expectation_keys() -> Sequence[str]:
    """The expectations a scenario's ``expect:`` block may state."""
    return tuple(CHECKS)
