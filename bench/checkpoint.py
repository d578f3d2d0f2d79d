"""Cost of one checkpoint of the alarm state (on the event loop) for the demo site and bigger copies.

    python bench/checkpoint.py [--copies 1 97] [--repeat 7]

The live service pickles the detectors' and engines' state at the timer tick after an alarm changed (at most once
a second) and every ``checkpoint_interval_s``. For each site size (``--copies`` as in ``bench/latency.py``: 97 is
10,000 sensors) it prints the checkpoint's size and the CPU time of writing it (median and max of ``--repeat``),
and, for comparison, a plain pickle of the same state (which copies the site, rules, plan and roster into each
checkpoint, as checkpoints did before ``checkpoint.Configuration``) plus the configuration's fingerprint, which
was computed at every save then. The state is a fresh one (arrays are allocated for every sensor at start, so its
size does not grow with history); CPU times from ``time.process_time``, with the load average.
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import time
from collections.abc import Callable

from latency import city_site

from daemon.chain.build import AlarmSetup, fresh_state
from daemon.chain.checkpoint import fingerprint
from daemon.config import DEFAULT_SITE, AlarmConfig
from daemon.site_file import load_site
from rules.sensor_table import SensorTable


def _cpu_ms(work: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """Median and max CPU milliseconds of ``work`` over ``repeat`` runs, and its last result."""
    times = []
    result: object = None
    for _ in range(repeat):
        started = time.process_time()
        result = work()
        times.append((time.process_time() - started) * 1000)
    return statistics.median(times), max(times), result


def measure(copies: int, setup: AlarmSetup, repeat: int) -> str:
    """One line of figures for the demo site's devices ``copies`` times."""
    table = SensorTable.build(load_site(DEFAULT_SITE) if copies <= 1 else city_site(copies))
    detector, state = fresh_state(table, setup, drill=False)
    started = time.process_time()
    configuration = setup.checkpoint_configuration(table, detector.config)
    walk_ms = (time.process_time() - started) * 1000
    median, most, data = _cpu_ms(lambda: configuration.dumps((detector, state)), repeat)
    assert isinstance(data, bytes)
    load_ms, _, _ = _cpu_ms(lambda: configuration.loads(data), 1)
    copied_ms, _, copied = _cpu_ms(lambda: pickle.dumps((detector, state), pickle.HIGHEST_PROTOCOL), 3)
    assert isinstance(copied, bytes)
    fingerprint_ms, _, _ = _cpu_ms(lambda: fingerprint([table.site, *setup.rules, setup.plan, setup.roster]), 3)
    return (
        f"{len(table):>6} sensors: checkpoint {len(data) / 1e6:.1f} MB, {median:.1f} ms CPU median (max {most:.1f}); "
        f"read back {load_ms:.0f} ms; the configuration's walk {walk_ms:.0f} ms (once per configuration) | "
        f"copying the configuration: {len(copied) / 1e6:.1f} MB, {copied_ms:.1f} ms, "
        f"+ fingerprint {fingerprint_ms:.1f} ms"
    )


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 97])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    setup = AlarmSetup.load(AlarmConfig())
    for copies in args.copies:
        print(measure(copies, setup, args.repeat), flush=True)
    print(f"load average (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
