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
import sys
import warnings
from collections.abc import Callable
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


def _parse(csv_in: Path, series: SeriesFile) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """Times (unix seconds) and values; None (after logging the first bad row) if a row is not a time and a number."""
    both = series.numbers()
    if both is not None:
        return both[:, 0].copy(), both[:, 1].copy()
    try:
        t = _parse_times_in_bulk(series.time_texts().astype(np.str_))
        if t is None:
            t = parse_times(series.times_decoded())
        values = series.value_numbers()
    except ValueError:
        _first_bad(csv_in, series.times_decoded(), series.values_decoded())
        return None
    return t, values


def _first_bad(csv_in: Path, times: list[str], values: list[str]) -> None:
    """Log the first row that is not a time and a number."""
    for line, (t, v) in enumerate(zip(times, values, strict=True), start=2):
        try:
            parse_times([t])
            float(v)
        except ValueError:
            log.error("%s:%d: %r, %r is not a time and a number", csv_in, line, t, v)  # noqa: TRY400
            return


def _summary(result: BacktestResult, series: SeriesFile, t: NDArray[np.float64]) -> list[str]:
    """Lines describing the alarm episodes, for standard error."""
    found = episodes(result, t)
    lines = [f"{len(t)} readings, {len(found)} alarm episode(s), alarm on for {int(result.alarm.sum())} reading(s)"]
    for e in found[:MAX_EPISODES_LISTED]:
        readings = int(np.sum((t >= t[e.start]) & (t <= t[e.end])))
        span = f"{series.time_text(e.start)} .. {series.time_text(e.end)}"
        lines.append(f"  {span} ({readings} readings): {', '.join(e.conditions)}")
    if len(found) > MAX_EPISODES_LISTED:
        lines.append(f"  ... and {len(found) - MAX_EPISODES_LISTED} more")
    return lines


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
    t, values = parsed
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
    header = f"{series.time_column},value,anomaly_score,alarm,flags,conditions".encode() + LINE_END
    conditions = Texts.of([";".join(names).encode() for names in result.condition_runs])
    alarm = Texts.of([b"0", b"1"])
    target = out.open("wb") if out is not None else None
    try:
        _write(target, header)
        first = 0
        for block in series.blocks:
            rows = slice(first, first + block.times.start.shape[0])
            added = [
                fixed_point(score[rows], 4),
                alarm.pick(result.alarm[rows].astype(np.intp)),
                integers(result.flags[rows]),
                conditions.pick(result.condition_run[rows]),
            ]
            _write(target, join_rows([*block.written(), *added]))
            first = rows.stop
    finally:
        if target is not None:
            target.close()
    for line in _summary(result, series, t):
        print(line, file=sys.stderr)
    return 0
