"""``hazwatch detect FILE.csv``: back-test the detectors on one recorded series (CSV in, CSV out)."""

from __future__ import annotations

import csv
import logging
import sys
from pathlib import Path

from detectors.backtest import backtest
from detectors.kinds import Kind

logger = logging.getLogger(__name__)


def run(csv_in: Path, kind: str, out: Path | None) -> int:
    """Read ``time,value`` rows (unix seconds), write them back with score, alarm, flags and conditions."""
    try:
        kind_enum = Kind(kind)
    except ValueError:
        logger.error("unknown kind %r; choose one of %s", kind, ", ".join(k.value for k in Kind))  # noqa: TRY400
        return 2
    times: list[float] = []
    values: list[float] = []
    with csv_in.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"time", "value"} <= set(reader.fieldnames):
            logger.error("%s: expected a header with 'time' and 'value' columns", csv_in)
            return 2
        for line, row in enumerate(reader, start=2):
            try:
                times.append(float(row["time"]))
                values.append(float(row["value"]))
            except ValueError:
                logger.error("%s:%d: time and value must be numbers", csv_in, line)  # noqa: TRY400
                return 2
    result = backtest(times, values, kind_enum)
    target = out.open("w", newline="") if out is not None else sys.stdout
    try:
        writer = csv.writer(target)
        writer.writerow(["time", "value", "anomaly_score", "alarm", "flags", "conditions"])
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
