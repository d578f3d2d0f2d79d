"""CAD-OSE speed (``detectors.cad_ose``): readings per CPU-second on synthetic series, no NAB needed.

    PYTHONPATH=. .venv/bin/python bench/cad_ose.py [--readings 20000]

Two series of the given length: a daily cycle of 288 readings (5-minute data) with 2 % noise and a few steps,
where contexts recur (like most of NAB's real series), and white noise, where every context is new and the
memory, and each reading's cost, grow fastest (like NAB's art_noisy). CPU time (time.process_time), not wall.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from detectors.cad_ose import cad_ose_score


def main() -> None:
    """Time the scorer on both series and print readings per CPU-second."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readings", type=int, default=20000)
    args = parser.parse_args()
    rng = np.random.default_rng(12)
    n = args.readings
    phase = np.arange(n) % 288
    cycle = 50.0 + 20.0 * np.sin(2 * np.pi * phase / 288) + rng.normal(0.0, 1.0, n)
    cycle[n // 3 :] += 10.0
    cycle[2 * n // 3 :] -= 25.0
    series = {"daily cycle": cycle, "white noise": rng.normal(0.0, 1.0, n)}
    for name, values in series.items():
        start = time.process_time()
        cad_ose_score(values)
        spent = time.process_time() - start
        print(f"{name}: {n:,} readings in {spent:.2f} CPU-s, {n / spent:,.0f} readings per CPU-second")


if __name__ == "__main__":
    main()
