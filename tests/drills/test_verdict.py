"""The verdict checks each expectation point by point; an expectation it cannot check fails rather than passes."""

from __future__ import annotations

from typing import Any

from daemon.drills.compare import comparison_rows, format_table
from daemon.drills.verdict import verdict


def _report(**overrides: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "drill_run": 7,
        "highest_tier": "orange",
        "alarms": [
            {"sensor": "gas-n02-cl2", "rule": "gas-aegl2-10min", "classification": "hazard", "priority": "high",
             "raised_at": 1000.0},
        ],
        "notifications": [{"created_at": 1000.3, "acknowledged_at": None, "event": "open"}],
        "incidents": [{"escalations": [{"type": "escalated", "role": "director", "why": "page not acknowledged"}],
                       "reports": [{"name": "初报", "due_at": 4600.0, "sent_at": None}]}],
        "score": {"events": [{"id": "leak", "real": True, "detected": True, "detection_delay_s": 120.0}],
                  "false_alarms": []},
        "ground_truth": {"scenario": "cl2"},
    }  # fmt: skip
    report.update(overrides)
    return report


def _results(expect: dict[str, Any], report: dict[str, Any]) -> dict[str, str]:
    return {p["expectation"]: p["result"] for p in verdict(expect, report)["points"]}


def test_each_expectation_is_a_point_and_the_drill_passes_only_when_all_pass() -> None:
    report = _report()
    expect = {
        "tier": "orange",
        "first_detection_within_s": 600,
        "alarm_sensors": ["gas-n02-cl2"],
        "page_within_s": 5,
        "no_false_alarms": True,
    }
    result = verdict(expect, report)
    assert result["overall"] == "PASS"
    assert {p["expectation"] for p in result["points"]} == {*expect, "detected: leak"}
    assert verdict({**expect, "tier": "red"}, report)["overall"] == "FAIL"


def test_late_detection_missing_alarm_and_slow_page_fail() -> None:
    results = _results(
        {"first_detection_within_s": 60, "alarm_sensors": ["gas-s02-cl2"], "page_within_s": 0.1}, _report()
    )
    assert results == {
        "first_detection_within_s": "FAIL",
        "alarm_sensors": "FAIL",
        "page_within_s": "FAIL",
        "detected: leak": "PASS",
    }


def test_people_in_the_loop_expectations_fail_when_nobody_acted() -> None:
    results = _results({"acknowledged_in_time": True, "reports_on_time": True}, _report())
    assert results["acknowledged_in_time"] == "FAIL"  # an escalation fired: nobody acknowledged in time
    assert results["reports_on_time"] == "FAIL"  # the initial report was never sent


def test_an_expectation_hazwatch_cannot_check_fails_and_says_so() -> None:
    [point, _] = verdict({"evacuated_within_s": 3600}, _report())["points"]
    assert point["result"] == "FAIL"
    assert "not checked" in point["note"]


def test_tier_none_means_no_incident_tier_at_all() -> None:
    assert _results({"tier": "none"}, _report(highest_tier=None))["tier"] == "PASS"
    assert _results({"tier": "none"}, _report())["tier"] == "FAIL"
    assert _results({"max_tier": "blue"}, _report(highest_tier="blue"))["max_tier"] == "PASS"
    assert _results({"min_tier": "orange"}, _report(highest_tier="red"))["min_tier"] == "PASS"


def test_compare_puts_runs_side_by_side() -> None:
    first = _report()
    first["verdict"] = verdict({"tier": "orange"}, first)
    second = _report(drill_run=9, score={"events": [{"id": "leak", "real": True, "detected": True,
                                                     "detection_delay_s": 90.0}], "false_alarms": []})  # fmt: skip
    second["notifications"] = [{"created_at": 1000.3, "acknowledged_at": 1040.3, "event": "open"}]
    second["verdict"] = verdict({"tier": "red"}, second)
    rows = {row[0]: row[1:] for row in comparison_rows([first, second])}
    assert rows["drill run"] == ["7", "9"]
    assert rows["detection delay (s): leak"] == ["120", "90"]
    assert rows["first acknowledgement after its page (s)"] == ["-", "40"]
    assert rows["verdict: tier"] == ["PASS (orange)", "FAIL (orange)"]
    table = format_table(comparison_rows([first, second]))
    assert table.splitlines()[0].split() == ["drill", "run", "7", "9"]


def test_comparison_says_missed_only_for_real_events() -> None:
    """Rain is in the ground truth but is not a hazard: the comparison says so instead of "missed"."""
    events = [
        {"id": "leak", "real": True, "detected": False, "detection_delay_s": None},
        {"id": "rain-1", "real": False, "detected": False, "detection_delay_s": None},
    ]
    rows = {row[0]: row[1:] for row in comparison_rows([_report(score={"events": events, "false_alarms": []})])}
    assert rows["detection delay (s): leak"] == ["missed"]
    assert rows["detection delay (s): rain-1"] == ["not a hazard"]
