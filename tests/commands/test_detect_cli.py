"""`hazwatch detect`: the back-testing command as a site engineer runs it."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from detectors.substances import SUBSTANCES
from tests.helpers import run_cli


def test_detect_marks_a_chlorine_excursion(tmp_path: Path) -> None:
    """ISO timestamps in, the same column back out; the excursion over detector level 2 is an alarm."""
    start = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    level2 = 2 * SUBSTANCES["Cl2"].occupational_limit_ppm
    rows = [((start + timedelta(seconds=10 * i)).isoformat(), 0.02 + 0.005 * (i % 4)) for i in range(120)]
    rows[60:70] = [(t, 3 * level2) for t, _ in rows[60:70]]
    source = tmp_path / "cl2.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value"])
        writer.writerows(rows)
    out = tmp_path / "scored.csv"
    result = run_cli("detect", str(source), "--kind", "gas", "--substance", "Cl2", "--out", str(out))
    assert result.returncode == 0, result.stderr
    with out.open(newline="") as handle:
        scored = list(csv.DictReader(handle))
    assert list(scored[0]) == ["timestamp", "value", "anomaly_score", "alarm", "flags", "conditions"]
    alarms = [i for i, row in enumerate(scored) if row["alarm"] == "1"]
    assert alarms
    assert alarms[0] == 60
    assert "gas.level2" in scored[61]["conditions"]
    assert all(row["alarm"] == "0" for row in scored[:60])
    assert all(0.0 <= float(row["anomaly_score"]) <= 1.0 for row in scored)


def test_detect_explains_bad_input(tmp_path: Path) -> None:
    """A bad row names the file and line; exit status 2."""
    source = tmp_path / "bad.csv"
    source.write_text("timestamp,value\n2026-05-01T08:00:00+00:00,1.0\nyesterday,2.0\n")
    result = run_cli("detect", str(source))
    assert result.returncode == 2
    assert f"{source}:3" in result.stderr


def test_detect_context_score_keeps_the_columns(tmp_path: Path) -> None:
    """``--score context`` writes the context novelty in the same column, 0..1; a broken cycle scores highest."""
    start = datetime(2026, 5, 1, tzinfo=UTC)
    values = [10.0 + 5.0 * ((i % 24) >= 12) for i in range(24 * 30)]
    values[24 * 25 + 13 : 24 * 25 + 17] = [10.0] * 4  # the high half-day fails to come: values seen before
    source = tmp_path / "cycle.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value"])
        writer.writerows(((start + timedelta(hours=i)).isoformat(), v) for i, v in enumerate(values))
    out = tmp_path / "scored.csv"
    result = run_cli("detect", str(source), "--score", "context", "--out", str(out))
    assert result.returncode == 0, result.stderr
    with out.open(newline="") as handle:
        scored = list(csv.DictReader(handle))
    assert list(scored[0]) == ["timestamp", "value", "anomaly_score", "alarm", "flags", "conditions"]
    score = [float(row["anomaly_score"]) for row in scored]
    assert all(0.0 <= s <= 1.0 for s in score)
    assert max(score[24 * 5 :]) == max(score[24 * 25 + 13 : 24 * 25 + 17])
    assert max(score[24 * 5 : 24 * 25]) < 0.5 * max(score[24 * 25 + 13 : 24 * 25 + 17])


# CAD-OSE's raw score passes its rest level; range-context novelty reaches 3 of its 5 orders new (0.6).
@pytest.mark.parametrize(("scoring", "at_least"), [("cad-ose", 0.75), ("range-context", 0.5)])
def test_detect_cycle_scores_find_a_broken_cycle(tmp_path: Path, scoring: str, at_least: float) -> None:
    """``--score cad-ose`` / ``range-context`` write their score in the same column; a missing peak scores highest."""
    start = datetime(2026, 5, 1, tzinfo=UTC)
    values = [10.0 + 5.0 * ((i % 24) >= 12) for i in range(24 * 40)]
    values[24 * 35 + 13 : 24 * 35 + 17] = [10.0] * 4
    source = tmp_path / "cycle.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value"])
        writer.writerows(((start + timedelta(hours=i)).isoformat(), v) for i, v in enumerate(values))
    out = tmp_path / "scored.csv"
    result = run_cli("detect", str(source), "--score", scoring, "--out", str(out))
    assert result.returncode == 0, result.stderr
    with out.open(newline="") as handle:
        scored = list(csv.DictReader(handle))
    assert [row["timestamp"] for row in scored] == [(start + timedelta(hours=i)).isoformat() for i in range(24 * 40)]
    score = [float(row["anomaly_score"]) for row in scored]
    assert all(0.0 <= s <= 1.0 for s in score)
    broken = max(score[24 * 35 + 13 : 24 * 35 + 17])
    assert broken >= at_least
    assert max(score[24 * 10 : 24 * 35 + 13]) < broken
