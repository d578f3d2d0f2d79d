"""``hazwatch detect FILE.csv``: back-test the detectors on one recorded series (CSV in, CSV out).

How a site engineer tunes rules on history: the same detection core the service runs, over
``timestamp,value`` rows (unix seconds or ISO 8601), writing each row back (time and value exactly as given)
with its anomaly score, whether an alarm condition was on, the quality flags and the conditions that were on,
and a summary of the alarm episodes on standard error. The default kind, ``generic``, runs the anomaly
detector alone, for series without physics of their own.

``--score evidence`` (the default) writes the live core's anomaly score (1 = alarm-level evidence of a new
anomaly). ``--score context`` writes instead the context-novelty score of ``detectors.context`` blended with
it, a 0..1 ranking of how new each reading's recent pattern is, for benchmarks that threshold a score
(it has no alarm level; the alarm column is the same either way). ``--score cad-ose`` writes the score of
``detectors.cad_ose``, the Contextual Anomaly Detector (NAB's "contextOSE"), scaled over the file's range;
``--score range-context`` the score of ``detectors.range_context``, CAD-OSE's scaling and rest period with a plain
context memory computed along the whole series at once (about a hundred times faster).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.typing import NDArray

from daemon.commands.series_csv import (
    LINE_END,
    SeriesFile,
    SeriesFileError,
    Texts,
    fixed_point,
    integers,
    join_rows,
    read_series,
)
from detectors.backtest import BacktestResult, backtest, episodes, time_order
from detectors.cad_ose import cad_ose_score
from detectors.context import context_score
from detectors.kinds import Kind
from detectors.range_context import range_context_score
from detectors.substances import SUBSTANCES

log = logging.getLogger(__name__)
EXIT_BAD_INPUT = 2
MAX_EPISODES_LISTED = 50
DATE_LENGTH = len("2026-01-01")  # a '-' past the date is a zone offset
SCORES = ("evidence", "context", "cad-ose", "range-context")
ISO_SECOND_LENGTH = len("2026-01-01 00:00:00")
_ISO_DIGIT_AT = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18])
_ISO_SEPARATOR_AT = np.array([4, 7, 13, 16])
_ISO_SEPARATORS = np.frombuffer(b"--::", np.uint8)
_ISO_DATE_END = 10  # a space or a "T"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``detect`` parser."""
    parser = subparsers.add_parser("detect", help="back-test the detectors on a CSV of timestamp,value")
    parser.add_argument("csv_in", type=Path, metavar="FILE.csv", help="rows of timestamp,value (header required)")
    parser.add_argument(
        "--kind",
        default=Kind.GENERIC.value,
        choices=[k.value for k in Kind],
        help="what the series measures (default: generic, for any series without physics of its own)",
    )
    parser.add_argument("--substance", choices=sorted(SUBSTANCES), help="gas formula, for --kind gas")
    parser.add_argument("--high", type=float, help="a high level to test, in the kind's canonical unit")
    parser.add_argument("--high-high", type=float, help="a high-high level to test")
    parser.add_argument("--low", type=float, help="a low level to test")
    parser.add_argument("--full-scale", type=float, help="top of the instrument's range (readings there are saturated)")
    parser.add_argument(
        "--score",
        choices=SCORES,
        default=SCORES[0],
        help="anomaly_score column: the live core's evidence (default), context novelty blended with it, CAD-OSE, "
        "or range-context novelty",
    )
    parser.add_argument("--out", type=Path, help="output CSV (default: standard output)")
    parser.set_defaults(handler=lambda args: run(args.csv_in, args.kind, args.out, args))


def parse_times(texts: list[str]) -> NDArray[np.float64]:
    """Unix seconds, or ISO 8601 times (naive ones are read as UTC so a daylight-saving change makes no gap)."""
    fast = _parse_times_in_bulk(np.array(texts, np.str_))
    if fast is not None:
        return fast
    out = np.empty(len(texts))
    for i, text in enumerate(texts):
        moment = datetime.fromisoformat(text)
        out[i] = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    return out


def _parse_times_in_bulk(texts: NDArray[np.str_]) -> NDArray[np.float64] | None:
    """Unix seconds, or times numpy reads without a time zone; None when each must go through fromisoformat."""
    try:
        return texts.astype(np.float64)
    except ValueError:
        pass
    # numpy reads a zone ("+08:00", "-05:00", "Z") only with a warning, and turning that warning into an error
    # inside the cast can crash the interpreter (numpy 2.4): such times go the fromisoformat way untried.
    zoned = (np.strings.find(texts, "+") >= 0) | (np.strings.rfind(texts, "-") >= DATE_LENGTH)
    if np.any(zoned | np.strings.endswith(texts, "Z")):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            stamps = texts.astype("datetime64[us]")
    except (ValueError, Warning):
        return None
    out: NDArray[np.float64] = stamps.astype(np.int64).astype(np.float64) / 1e6
    return out


def _iso_seconds(texts: Texts) -> NDArray[np.float64] | None:
    """Unix seconds of times all written ``YYYY-MM-DD HH:MM:SS`` (or with a ``T``), read as UTC as numpy reads
    them, by arithmetic on their digits (numpy's own parser costs about 0.5 us a time); None if any time is
    written otherwise or is not a valid date and time of day (the general parsers then read them all)."""
    n = texts.start.shape[0]
    if n == 0 or not bool(np.all(texts.length == ISO_SECOND_LENGTH)):
        return None
    # Every 19-byte window of the buffer as one item (overlapping views), so a gather copies whole times.
    windows = texts.buffer.shape[0] - ISO_SECOND_LENGTH + 1
    items = np.ndarray((max(windows, 0),), f"S{ISO_SECOND_LENGTH}", texts.buffer, strides=(1,))
    chars = items[texts.start].view(np.uint8).reshape(n, ISO_SECOND_LENGTH)
    digits = chars[:, _ISO_DIGIT_AT] - np.uint8(ord("0"))  # a byte below "0" wraps round, above 9 too
    middle = chars[:, _ISO_DATE_END]
    if (
        bool(np.any(digits > 9))
        or bool(np.any(chars[:, _ISO_SEPARATOR_AT] != _ISO_SEPARATORS))
        or bool(np.any((middle != ord(" ")) & (middle != ord("T"))))
    ):
        return None
    pairs = digits.astype(np.int64)
    pairs = pairs[:, 0::2] * 10 + pairs[:, 1::2]  # century, year of century, month, day, hour, minute, second
    year = pairs[:, 0] * 100 + pairs[:, 1]
    month, day, hour, minute, second = pairs[:, 2:].T
    months = (year - 1970) * 12 + (month - 1)
    first = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    days_in_month = (months + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) - first
    valid = (month >= 1) & (month <= 12) & (day >= 1) & (day <= days_in_month)
    valid &= (hour < 24) & (minute < 60) & (second < 60)
    if not bool(valid.all()):
        return None
    out: NDArray[np.float64] = ((first + day - 1) * 86400 + hour * 3600 + minute * 60 + second).astype(np.float64)
    return out


def _times(csv_in: Path, series: SeriesFile) -> NDArray[np.float64] | None:
    """Every row's time in unix seconds; None (after logging the first row whose time is not one) otherwise."""
    fast = [_iso_seconds(block.times) for block in series.blocks]
    if fast and all(part is not None for part in fast):
        return np.concatenate([part for part in fast if part is not None])
    try:
        t = _parse_times_in_bulk(series.time_texts().astype(np.str_))
        return parse_times(series.times_decoded()) if t is None else t
    except ValueError:
        _first_bad_time(csv_in, series.times_decoded())
        return None


def _values(series: SeriesFile) -> NDArray[np.float64]:
    """Every row's value; NaN where the row holds no number (empty or not a number: a gap in the series)."""
    try:
        return series.value_numbers()
    except ValueError:
        return np.array([_number_or_gap(text) for text in series.values_decoded()], np.float64)


def _number_or_gap(text: str) -> float:
    """The number written, or NaN."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def _parse(csv_in: Path, series: SeriesFile) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """Times (unix seconds) and values (NaN for a gap); None (after logging the first bad row) if a time is not one."""
    both = series.numbers()
    if both is not None:
        return both[:, 0].copy(), both[:, 1].copy()
    t = _times(csv_in, series)
    return None if t is None else (t, _values(series))


def _first_bad_time(csv_in: Path, times: list[str]) -> None:
    """Log the first row whose time is not a time."""
    for line, text in enumerate(times, start=2):
        try:
            parse_times([text])
        except ValueError:
            log.error("%s:%d: %r is not a time", csv_in, line, text)  # noqa: TRY400
            return


def _summary(
    result: BacktestResult, series: SeriesFile, t: NDArray[np.float64], row_of: NDArray[np.intp], gaps: int
) -> list[str]:
    """Lines describing the alarm episodes, for standard error (``row_of``: each reading's row in the file)."""
    found = episodes(result, t)
    kept = f" and {gaps} gap(s) (rows without a number, not tested)" if gaps else ""
    lines = [
        f"{len(t)} readings{kept}, {len(found)} alarm episode(s), alarm on for {int(result.alarm.sum())} reading(s)"
    ]
    listed = found[:MAX_EPISODES_LISTED]
    in_order = t[time_order(t)]
    first = np.searchsorted(in_order, t[[e.start for e in listed]], side="left")
    last = np.searchsorted(in_order, t[[e.end for e in listed]], side="right")
    for e, readings in zip(listed, (last - first).tolist(), strict=True):
        span = f"{series.time_text(int(row_of[e.start]))} .. {series.time_text(int(row_of[e.end]))}"
        lines.append(f"  {span} ({readings} readings): {', '.join(e.conditions)}")
    if len(found) > MAX_EPISODES_LISTED:
        lines.append(f"  ... and {len(found) - MAX_EPISODES_LISTED} more")
    return lines


@dataclass(frozen=True, slots=True)
class _Rows:
    """The added columns for every row of the file: a gap (no number) has no score and no flags, and the alarm
    and conditions that stood at its time (those of the last reading at or before it)."""

    score: NDArray[np.float64]
    alarm: NDArray[np.intp]
    flags: NDArray[np.uint16]
    condition_runs: list[tuple[str, ...]]
    condition_run: NDArray[np.intp]
    gap: NDArray[np.bool_] | None

    @classmethod
    def of(
        cls,
        result: BacktestResult,
        score: NDArray[np.float64],
        t: NDArray[np.float64],
        t_rows: NDArray[np.float64],
        reading: NDArray[np.bool_] | None,
    ) -> _Rows:
        """The readings' columns, spread over the rows."""
        alarm = result.alarm.astype(np.intp)
        if reading is None:
            return cls(score, alarm, result.flags, result.condition_runs, result.condition_run, None)
        n, gap = t_rows.shape[0], ~reading
        runs = [*result.condition_runs, ()]
        out = cls(np.full(n, np.nan), np.zeros(n, np.intp), np.zeros(n, np.uint16), runs, np.zeros(n, np.intp), gap)
        out.score[reading], out.alarm[reading], out.flags[reading] = score, alarm, result.flags
        out.condition_run[reading] = result.condition_run
        gap_rows = np.flatnonzero(gap)
        out.condition_run[gap_rows] = len(runs) - 1  # no reading before it: nothing on
        order = time_order(t)
        before = np.searchsorted(t[order], t_rows[gap_rows], side="right") - 1
        after_one = before >= 0
        at = order[before[after_one]]
        out.alarm[gap_rows[after_one]] = alarm[at]
        out.condition_run[gap_rows[after_one]] = result.condition_run[at]
        return out

    def texts(self, rows: slice) -> list[Texts]:
        """The added columns' texts for ``rows``."""
        conditions = Texts.of([";".join(names).encode() for names in self.condition_runs])
        score, flags = fixed_point(self.score[rows], 4), integers(self.flags[rows])
        if self.gap is not None:
            score, flags = _blank(score, self.gap[rows]), _blank(flags, self.gap[rows])
        return [score, _ALARM.pick(self.alarm[rows]), flags, conditions.pick(self.condition_run[rows])]


_ALARM = Texts.of([b"0", b"1"])


def _blank(texts: Texts, where: NDArray[np.bool_]) -> Texts:
    """The texts, empty where ``where`` holds."""
    return Texts(texts.buffer, texts.start, np.where(where, 0, texts.length))


def _write(target: BinaryIO | None, data: bytes) -> None:
    """To the output file, or to standard output (text, as the tests and a terminal take it)."""
    if target is not None:
        target.write(data)
    else:
        sys.stdout.write(data.decode("utf-8"))


def in_time_order(
    t: NDArray[np.float64],
    values: NDArray[np.float64],
    scorer: Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]],
) -> NDArray[np.float64]:
    """A series scorer's output in input order, the times and values given to it in time order (stable for ties)."""
    order = time_order(t)
    out = np.empty(values.shape[0])
    out[order] = scorer(t[order], values[order])
    return out


def run(csv_in: Path, kind: str, out: Path | None, options: argparse.Namespace | None = None) -> int:
    """Read the series, run the core, write it back with score, alarm, flags and conditions; summary on stderr."""
    try:
        kind_enum = Kind(kind)
    except ValueError:
        log.error("unknown kind %r; choose one of %s", kind, ", ".join(k.value for k in Kind))  # noqa: TRY400
        return EXIT_BAD_INPUT
    try:
        series = read_series(csv_in)
    except OSError as exc:
        log.error("%s: cannot read: %s", csv_in, exc.strerror)  # noqa: TRY400
        return EXIT_BAD_INPUT
    except SeriesFileError as exc:
        log.error("%s%s", csv_in, exc)  # noqa: TRY400 (the row is the news, not a traceback)
        return EXIT_BAD_INPUT
    parsed = _parse(csv_in, series)
    if parsed is None:
        return EXIT_BAD_INPUT
    t_rows, values_rows = parsed
    gap = np.isnan(values_rows)
    gaps = int(np.count_nonzero(gap))
    reading = ~gap if gaps else None
    t, values = (t_rows, values_rows) if reading is None else (t_rows[reading], values_rows[reading])
    result = backtest(
        t,
        values,
        kind_enum,
        high=getattr(options, "high", None),
        high_high=getattr(options, "high_high", None),
        low=getattr(options, "low", None),
        substance=getattr(options, "substance", None),
        full_scale=getattr(options, "full_scale", None),
    )
    score = result.anomaly_score
    scoring = getattr(options, "score", SCORES[0])
    if scoring == "context":
        score = context_score(t, values, score)
    elif scoring == "cad-ose":
        score = in_time_order(t, values, lambda _, v: cad_ose_score(v))
    elif scoring == "range-context":
        score = in_time_order(t, values, range_context_score)
    columns = _Rows.of(result, score, t, t_rows, reading)
    header = f"{series.time_column},value,anomaly_score,alarm,flags,conditions".encode() + LINE_END
    target = out.open("wb") if out is not None else None
    try:
        _write(target, header)
        first = 0
        for block in series.blocks:
            rows = slice(first, first + block.times.start.shape[0])
            _write(target, join_rows([*block.written(), *columns.texts(rows)]))
            first = rows.stop
    finally:
        if target is not None:
            target.close()
    row_of = np.arange(t.shape[0]) if reading is None else np.flatnonzero(reading)
    for line in _summary(result, series, t, row_of, gaps):
        print(line, file=sys.stderr)
    return 0
