"""``hazwatch detect FILE.csv``: back-test the detectors on one recorded series (CSV in, CSV out).

How a site engineer tunes rules on history: the same detection core the service runs, over
``timestamp,value`` rows (unix seconds or ISO 8601), writing each row back with its anomaly score,
whether an alarm condition was on, the quality flags and the conditions that were on.
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
from datetime import datetime
from pathlib import Path

from detectors.backtest import backtest
from detectors.kinds import Kind
from detectors.substances import SUBSTANCES

log = logging.getLogger(__name__)
EXIT_BAD_INPUT = 2
TIME_COLUMNS = ("timestamp", "time")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``detect`` parser."""
    parser = subparsers.add_parser("detect", help="back-test the detectors on a CSV of timestamp,value")
    parser.add_argument("csv_in", type=Path, metavar="FILE.csv", help="rows of timestamp,value (header required)")
    parser.add_argument("--kind", default=Kind.GAMMA_DOSE_RATE.value, choices=[k.value for k in Kind])
    parser.add_argument("--substance", choices=sorted(SUBSTANCES), help="gas formula, for --kind gas")
    parser.add_argument("--high", type=float, help="a high level to test, in the kind's canonical unit")
    parser.add_argument("--high-high", type=float, help="a high-high level to test")
    parser.add_argument("--low", type=float, help="a low level to test")
    parser.add_argument("--out", type=Path, help="output CSV (default: standard output)")
    parser.set_defaults(handler=lambda args: run(args.csv_in, args.kind, args.out, args))


def _parse_time(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text).timestamp()


def run(csv_in: Path, kind: str, out: Path | None, options: argparse.Namespace | None = None) -> int:
    """Read the series, run the core, write it back with score, alarm, flags and conditions."""
    try:
        kind_enum = Kind(kind)
    except ValueError:
        log.error("unknown kind %r; choose one of %s", kind, ", ".join(k.value for k in Kind))  # noqa: TRY400
        return EXIT_BAD_INPUT
    times: list[float] = []
    values: list[float] = []
    try:
        handle = csv_in.open(newline="", encoding="utf-8")
    except OSError as exc:
        log.error("%s: cannot read: %s", csv_in, exc.strerror)  # noqa: TRY400
        return EXIT_BAD_INPUT
    with handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        time_column = next((c for c in TIME_COLUMNS if c in columns), None)
        if time_column is None or "value" not in columns:
            log.error("%s: expected a header with 'timestamp' (or 'time') and 'value' columns", csv_in)
            return EXIT_BAD_INPUT
        for line, row in enumerate(reader, start=2):
            try:
                times.append(_parse_time(row[time_column]))
                values.append(float(row["value"]))
            except (TypeError, ValueError):
                log.error("%s:%d: %r, %r is not a time and a number", csv_in, line, row[time_column], row["value"])  # noqa: TRY400
                return EXIT_BAD_INPUT
    result = backtest(
        times,
        values,
        kind_enum,
        high=getattr(options, "high", None),
        high_high=getattr(options, "high_high", None),
        low=getattr(options, "low", None),
        substance=getattr(options, "substance", None),
    )
    target = out.open("w", newline="", encoding="utf-8") if out is not None else sys.stdout
    try:
        writer = csv.writer(target)
        writer.writerow([time_column, "value", "anomaly_score", "alarm", "flags", "conditions"])
        for i, (t, v) in enumerate(zip(times, values, strict=True)):
            writer.writerow(
                [
                    t,
                    v,
                    f"{result.anomaly_score[i]:.4f}",
                    int(result.alarm[i]),
                    int(result.flags[i]),
                    ";".join(result.active_conditions[i]),
                ]
            )
    finally:
        if out is not None:
            target.close()
    return 0
