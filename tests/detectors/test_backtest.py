"""Back-testing helper and the detect command's CSV round trip."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from daemon.commands.detect import run
from detectors.backtest import backtest
from detectors.kinds import Kind

T0 = 1_750_000_000.0


def test_backtest_gamma_step_and_levels() -> None:
    """A gamma series with a 40 % step: scores low before, alarm from the step on; a level alarm is reported."""
    rng = np.random.default_rng(0)
    t = T0 + 60.0 * np.arange(600)
    v = rng.poisson(600, 600) / 6.0
    v[400:] *= 1.4
    result = backtest(t, v, Kind.GAMMA_DOSE_RATE, high=130.0)
    assert not result.alarm[:400].any()
    assert result.alarm[401:].all()
    assert result.anomaly_score[:400].max() < 1.0
    assert result.anomaly_score[400:].min() > 0.5
    assert "gamma.rise" in result.active_conditions[450]
    assert "threshold.high" in result.active_conditions[450]


def test_backtest_keeps_input_order() -> None:
    """Unsorted input gives the same per-reading answers, in input order."""
    rng = np.random.default_rng(1)
    t = T0 + 10.0 * np.arange(300)
    v = np.abs(rng.normal(0, 0.05, 300))
    v[200:] = 5.0 + rng.normal(0, 0.1, 100)
    forward = backtest(t, v, Kind.GAS, substance="Cl2")
    perm = rng.permutation(300)
    shuffled = backtest(t[perm], v[perm], Kind.GAS, substance="Cl2")
    np.testing.assert_array_equal(shuffled.alarm, forward.alarm[perm])
    np.testing.assert_array_equal(shuffled.anomaly_score, forward.anomaly_score[perm])


def test_detect_command_round_trip(tmp_path: Path) -> None:
    """CSV in, CSV out with score, alarm, flags and conditions; bad input is an error code, not a crash."""
    src = tmp_path / "in.csv"
    rows = [(T0 + 60 * i, 100.0 + (i % 7) + (60 if i >= 100 else 0)) for i in range(150)]
    with src.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "value"])
        w.writerows(rows)
    out = tmp_path / "out.csv"
    assert run(src, "gamma_dose_rate", out) == 0
    with out.open(newline="") as f:
        got = list(csv.DictReader(f))
    assert len(got) == 150
    assert got[0].keys() == {"time", "value", "anomaly_score", "alarm", "flags", "conditions"}
    assert got[120]["alarm"] == "1"
    assert "gamma.rise" in got[120]["conditions"]
    assert run(src, "no_such_kind", out) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("time,value\n1,x\n")
    assert run(bad, "gas", out) == 2
