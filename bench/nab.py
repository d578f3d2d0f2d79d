"""The generic anomaly detector on the Numenta Anomaly Benchmark (NAB), scored by NAB's own scorer.

Not run in CI; NAB's code and data are never part of this repository. Get NAB and a Python for its scorer:

    git clone https://github.com/numenta/NAB /tmp/nab
    python3 -m venv /tmp/nabenv && /tmp/nabenv/bin/pip install pandas==1.5.3 numpy==1.23.5 simplejson

then run, from the repository root:

    PYTHONPATH=. .venv/bin/python bench/nab.py /tmp/nab --scorer-python /tmp/nabenv/bin/python

For every data file under ``NAB/data`` this runs ``hazwatch detect`` (kind generic, ``--score context`` by
default: the context-novelty score of ``detectors.context``; ``--score evidence`` for the live core's AR(1)
evidence score alone; ``--score cad-ose`` for ``detectors.cad_ose``; ``--score range-context`` for
``detectors.range_context``) and writes NAB's result
format (``timestamp,value,anomaly_score,label``) to ``NAB/results/hazwatch/<category>/hazwatch_<file>.csv``,
then runs ``run.py -d hazwatch --optimize --score --normalize --skipConfirmation`` in the NAB directory and
prints the normalised standard, reward-low-FP and reward-low-FN scores.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from daemon.commands.detect import SCORES
from daemon.commands.detect import run as detect

DETECTOR = "hazwatch"


def write_results(nab: Path, scoring: str) -> tuple[int, float, float]:
    """Detect over every NAB data file and write NAB result files; return readings, wall and CPU seconds in detect."""
    labels: dict[str, list[str]] = json.loads((nab / "labels" / "combined_labels.json").read_text())
    readings, spent, cpu = 0, 0.0, 0.0
    options = argparse.Namespace(score=scoring)
    with tempfile.TemporaryDirectory() as tmp:
        for data in sorted((nab / "data").glob("*/*.csv")):
            relative = f"{data.parent.name}/{data.name}"
            out = Path(tmp) / data.name
            start, start_cpu = time.perf_counter(), time.process_time()
            if detect(data, "generic", out, options) != 0:
                raise SystemExit(f"detect failed on {relative}")
            spent += time.perf_counter() - start
            cpu += time.process_time() - start_cpu
            anomalies = {label[:19] for label in labels.get(relative, [])}
            target = nab / "results" / DETECTOR / data.parent.name / f"{DETECTOR}_{data.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            with out.open(newline="") as src, target.open("w", newline="") as dst:
                writer = csv.writer(dst)
                writer.writerow(["timestamp", "value", "anomaly_score", "label"])
                for row in csv.DictReader(src):
                    label = int(row["timestamp"][:19] in anomalies)
                    writer.writerow([row["timestamp"], row["value"], row["anomaly_score"], label])
                    readings += 1
    return readings, spent, cpu


def score(nab: Path, python: str) -> dict[str, float]:
    """Run NAB's optimiser, scorer and normaliser for this detector; return the normalised scores by profile."""
    subprocess.run(
        [python, "run.py", "-d", DETECTOR, "--optimize", "--score", "--normalize", "--skipConfirmation"],
        cwd=nab,
        check=True,
    )
    final: dict[str, dict[str, float]] = json.loads((nab / "results" / "final_results.json").read_text())
    return final[DETECTOR]


def main() -> None:
    """Detect, write NAB results, score, print the table row."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("nab", type=Path, help="a NAB checkout (https://github.com/numenta/NAB)")
    parser.add_argument("--scorer-python", default=sys.executable, help="a Python with pandas for NAB's run.py")
    parser.add_argument("--score", choices=SCORES, default="context", help="hazwatch detect --score")
    parser.add_argument("--detect-only", action="store_true", help="write result files, do not score")
    args = parser.parse_args()
    readings, spent, cpu = write_results(args.nab, args.score)
    print(
        f"detect --score {args.score}: {readings:,} readings in {spent:.1f} s wall, {cpu:.1f} s CPU "
        f"({readings / cpu:,.0f} readings per CPU-second, CSV included)"
    )
    if args.detect_only:
        return
    scores = score(args.nab, args.scorer_python)
    print("| profile | score |\n|---|---|")
    for profile in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
        print(f"| {profile} | {scores[profile]:.1f} |")


if __name__ == "__main__":
    main()
