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


def test_rows_without_a_number_are_gaps_not_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Empty and non-numeric values are gaps: written back with no score and no flags, the alarm that stood at
    their time, counted on standard error; the readings score as they do without those rows. Exit status 0."""
    import numpy as np

    from daemon.commands.detect import run

    rng = np.random.default_rng(5)
    n = 1500
    values = [f"{v:.3f}" for v in 20.0 + rng.normal(0.0, 1.0, n) + 8.0 * (np.arange(n) >= 1000)]
    stamps = [f"2014-07-{1 + i // 1440:02d} {i // 60 % 24:02d}:{i % 60:02d}:00" for i in range(n)]
    gaps = {0: "", 500: "n/a", 1003: "", 1004: "--", 1400: "nan"}
    with_gaps = [gaps.get(i, v) for i, v in enumerate(values)]
    full, holed = tmp_path / "full.csv", tmp_path / "holed.csv"
    kept = [i for i in range(n) if i not in gaps]
    full.write_text("timestamp,value\n" + "".join(f"{stamps[i]},{values[i]}\n" for i in kept))
    holed.write_text("timestamp,value\n" + "".join(f"{s},{v}\n" for s, v in zip(stamps, with_gaps, strict=True)))
    assert run(full, "generic", tmp_path / "full_out.csv") == 0
    capsys.readouterr()
    assert run(holed, "generic", tmp_path / "holed_out.csv") == 0
    err = capsys.readouterr().err
    assert f"{n - len(gaps)} readings and {len(gaps)} gap(s)" in err
    assert "1 alarm episode(s)" in err
    with (tmp_path / "full_out.csv").open(newline="") as f:
        expected = list(csv.DictReader(f))
    with (tmp_path / "holed_out.csv").open(newline="") as f:
        got = list(csv.DictReader(f))
    assert [row["timestamp"] for row in got] == stamps
    assert [row["value"] for row in got] == with_gaps
    assert [got[i] for i in kept] == expected
    for i in gaps:
        assert got[i]["anomaly_score"] == got[i]["flags"] == ""
    assert got[0]["alarm"] == "0"  # nothing before it
    assert got[0]["conditions"] == ""
    assert got[1003]["alarm"] == got[1004]["alarm"] == got[1002]["alarm"] == "1"  # inside the alarm
    assert got[1004]["conditions"] == got[1002]["conditions"]
    assert got[500]["alarm"] == "0"


def test_iso_times_read_by_their_digits_equal_numpys_reading() -> None:
    """The digit arithmetic for ``YYYY-MM-DD HH:MM:SS`` times gives numpy's datetime64 reading (leap days, a
    "T", years far from 1970); anything it cannot vouch for (a 30 February, hour 24, a zone, other widths) is
    left to the general parsers."""
    import numpy as np

    from daemon.commands.detect import _iso_seconds, parse_times
    from daemon.commands.series_csv import Texts

    rng = np.random.default_rng(8)
    seconds = rng.integers(-2_000_000_000, 7_000_000_000, 2000) * 1.0
    texts = [str(np.datetime64(int(s), "s")).replace("T", " " if i % 2 else "T") for i, s in enumerate(seconds)]
    texts += ["2024-02-29 23:59:59", "2000-02-29 00:00:00", "1900-03-01 12:00:00", "1970-01-01 00:00:00"]
    got = _iso_seconds(Texts.of([text.encode() for text in texts]))
    assert got is not None
    np.testing.assert_array_equal(got, parse_times(texts))
    np.testing.assert_array_equal(got[:2000], seconds)
    for odd in ("2023-02-29 00:00:00", "1900-02-29 00:00:00", "2026-05-01 24:00:00", "2026-13-01 00:00:00",
                "2026-05-01 00:60:00", "2026-05-01+00:00:00", "2026-05-01 00:00", "2026-05-01 00:00:00Z",
                "2026-05-0a 00:00:00"):  # fmt: skip
        assert _iso_seconds(Texts.of([b"2026-05-01 00:00:00", odd.encode()])) is None, odd
