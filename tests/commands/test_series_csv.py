"""``hazwatch detect``'s bulk CSV reading and writing: byte for byte what the csv module reads and writes."""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

import numpy as np
import pytest

from daemon.commands import series_csv
from daemon.commands.detect import parse_times, run
from daemon.commands.series_csv import fixed_point, read_series
from detectors.backtest import backtest
from detectors.kinds import Kind


def _expected(text: str) -> str:
    """What detect writes, by the csv module reading the file and csv.writer writing it (the reference)."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = rows[0]
    time_column = "timestamp" if "timestamp" in header else "time"
    ti, vi = header.index(time_column), header.index("value")
    times, values = [r[ti] for r in rows[1:]], [r[vi] for r in rows[1:]]
    result = backtest(parse_times(times), np.array(values, np.float64), Kind.GENERIC)
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow([time_column, "value", "anomaly_score", "alarm", "flags", "conditions"])
    for i in range(len(times)):
        score = f"{result.anomaly_score[i]:.4f}"
        conditions = ";".join(result.active_conditions[i])
        writer.writerow([times[i], values[i], score, int(result.alarm[i]), int(result.flags[i]), conditions])
    return out.getvalue()


def _series(readings: int) -> tuple[list[str], list[str]]:
    """Minute readings with a step (so some rows carry alarm, flags and conditions), as ISO and as unix times."""
    rng = np.random.default_rng(7)
    value = 20.0 + rng.normal(0.0, 0.5, readings)
    value[readings // 2 :] += 8.0
    value[readings // 3] = 1e6  # out of range for nothing, but a jump
    stamps = np.datetime64("2026-05-01T00:00:00") + np.arange(readings).astype("timedelta64[m]")
    return [str(s).replace("T", " ") for s in stamps], [f"{v:.3f}" for v in value]


def _layouts() -> dict[str, str]:
    iso, value = _series(600)
    unix = [str(1_777_593_600 + 60 * i) for i in range(600)]
    rows = ["timestamp,value", *(f"{t},{v}" for t, v in zip(iso, value, strict=True))]
    return {
        "iso": "\n".join(rows) + "\n",
        "no final newline": "\n".join(rows),
        "crlf": "\r\n".join(rows) + "\r\n",
        "unix seconds": "time,value\n" + "".join(f"{t},{v}\n" for t, v in zip(unix, value, strict=True)),
        "value first, extra column": "value,site,timestamp\n"
        + "".join(f"{v},north,{t}\n" for t, v in zip(iso, value, strict=True)),
        "quoted": "timestamp,value\n" + "".join(f'"{t}","{v}"\n' for t, v in zip(iso, value, strict=True)),
        "iso with offset": "timestamp,value\n"
        + "".join(f"{t.replace(' ', 'T')}+08:00,{v}\n" for t, v in zip(iso, value, strict=True)),
    }


@pytest.mark.parametrize("block_bytes", [series_csv.BLOCK_BYTES, 97])
@pytest.mark.parametrize("layout", list(_layouts()))
def test_detect_writes_what_the_csv_module_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str, block_bytes: int
) -> None:
    """Every layout gives the reference output exactly (times and values as written, quoting as csv.writer),
    read in one block or in many."""
    monkeypatch.setattr(series_csv, "BLOCK_BYTES", block_bytes)
    text = _layouts()[layout]
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_bytes(text.encode())
    assert run(source, "generic", out, argparse.Namespace(score="evidence")) == 0
    assert out.read_bytes().decode() == _expected(text)


def test_a_blank_line_or_a_short_row_is_reported_with_its_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The csv module's reading takes over and says which line is short."""
    source = tmp_path / "in.csv"
    source.write_text("timestamp,value\n1,2\n\n3,4\n")
    assert run(source, "generic", tmp_path / "out.csv", argparse.Namespace(score="evidence")) == 2
    assert f"{source}:3: missing columns" in caplog.text
    source.write_text("timestamp,value\n1,2\n3\n")
    assert run(source, "generic", tmp_path / "out.csv", argparse.Namespace(score="evidence")) == 2
    assert f"{source}:3: missing columns" in caplog.text


def test_fixed_point_equals_printf() -> None:
    """Integer formatting of 4 decimals equals '%.4f' everywhere, ties, large, negative and NaN included."""
    rng = np.random.default_rng(11)
    x = np.concatenate(
        (
            rng.random(20000),
            np.arange(0, 20001) / 20000.0,  # every tie x.xxxx5 of 0..1
            [0.0, 0.99995, 0.999949999, 9.99995, 9.99994, 10.0, 12.5, 1e20, -0.00004, -3.25, np.nan, np.inf],
        )
    )
    texts = fixed_point(x, 4)
    assert texts.decoded() == [f"{v:.4f}" for v in x.tolist()]


def test_an_empty_file_body_reads_as_no_rows(tmp_path: Path) -> None:
    """A header alone is a series of no readings."""
    source = tmp_path / "in.csv"
    source.write_text("timestamp,value\n")
    assert len(read_series(source)) == 0
