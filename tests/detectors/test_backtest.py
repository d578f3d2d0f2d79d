"""Back-testing helper and the detect command's CSV round trip."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from daemon.commands.detect import run
from detectors import backtest as backtest_module
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
    bad.write_text("time,value\n1,2\nnoon,3\n")
    assert run(bad, "gas", out) == 2


def test_detect_generic_keeps_timestamps_and_summarises_episodes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Default kind generic: timestamps written back as given, one lasting change is one episode on stderr."""
    from daemon.cli import build_parser

    rng = np.random.default_rng(3)
    n = 1500
    values = 20.0 + rng.normal(0.0, 1.0, n)
    values[1000:] += 8.0
    stamps = [f"2014-07-{1 + i // 1440:02d} {i // 60 % 24:02d}:{i % 60:02d}:00" for i in range(n)]
    src = tmp_path / "series.csv"
    src.write_text("timestamp,value\n" + "".join(f"{s},{v:.3f}\n" for s, v in zip(stamps, values, strict=True)))
    out = tmp_path / "out.csv"
    args = build_parser().parse_args(["detect", str(src), "--out", str(out), "--full-scale", "1000"])
    assert args.kind == "generic"
    assert args.handler(args) == 0
    with out.open(newline="") as f:
        got = list(csv.DictReader(f))
    assert [row["timestamp"] for row in got] == stamps
    assert not any(row["alarm"] == "1" for row in got[:1000])
    assert got[1005]["alarm"] == "1"
    assert "anomaly.shift" in got[1005]["conditions"]
    err = capsys.readouterr().err
    assert "1 alarm episode(s)" in err
    assert "2014-07-01 16:40:00 .." in err  # reading 1000, in the input's own format


@pytest.mark.parametrize("kind", [Kind.GENERIC, Kind.GAS])
def test_backtest_in_batches_equals_one_batch(monkeypatch: pytest.MonkeyPatch, kind: Kind) -> None:
    """A long series fed to the core in batches gives what one batch gives (events across batch edges too)."""
    rng = np.random.default_rng(3)
    n = 5000
    t = T0 + 10.0 * np.arange(n)
    v = np.abs(rng.normal(0.2, 0.05, n))
    v[1000:1400] = 4.0  # a release across a batch edge
    v[2100:2300] = v[2099]  # stuck across another
    v[3000] = 50.0  # a spike
    v[4000:] += 1.0  # a lasting step
    shuffled = rng.permutation(n)
    whole = backtest(t[shuffled], v[shuffled], kind, substance="Cl2" if kind is Kind.GAS else None)
    monkeypatch.setattr(backtest_module, "CHUNK_READINGS", 700)
    batched = backtest(t[shuffled], v[shuffled], kind, substance="Cl2" if kind is Kind.GAS else None)
    np.testing.assert_allclose(batched.anomaly_score, whole.anomaly_score, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(batched.flags, whole.flags)
    np.testing.assert_array_equal(batched.alarm, whole.alarm)
    # The same conditions on at every reading (listed in the order the batches first report them).
    assert [set(names) for names in batched.active_conditions] == [set(names) for names in whole.active_conditions]
    assert whole.alarm.any()
