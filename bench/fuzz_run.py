"""Shared loop of the fuzz benches: hypothesis in chunks with their own seeds, a line of figures per chunk.

A 100,000-input run used to be one hypothesis call that printed nothing until it ended, and on a loaded machine it
never did. In chunks, every finished chunk is reported (inputs, CPU seconds, outcomes), a run can be bounded by
``--budget-s`` and still say how far it got, and a failure names its seed so it can be replayed alone.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable

from hypothesis import HealthCheck, settings
from hypothesis import seed as with_seed


def fuzz_settings(examples: int) -> settings:
    """Many examples, no deadline, no example database (every chunk is fresh)."""
    return settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def arguments(description: str) -> argparse.Namespace:
    """--count, --chunk, --budget-s, --first-seed."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--count", type=int, default=100_000, help="inputs in total")
    parser.add_argument("--chunk", type=int, default=5_000, help="inputs per hypothesis run (one seed each)")
    parser.add_argument("--budget-s", type=float, default=None, help="stop after the chunk that passes this")
    parser.add_argument("--first-seed", type=int, default=0)
    return parser.parse_args()


Chunk = Callable[[int], Callable[[], None]]  # examples -> a hypothesis test function


def run_chunks(name: str, args: argparse.Namespace, make: Chunk, outcomes: Counter[str], count: list[int]) -> int:
    """Run ``make(chunk)`` with successive seeds until ``args.count`` inputs ran; returns the exit code.

    ``outcomes`` and ``count`` are filled by the test function (how each input ended, how many ran).
    """
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    chunk_index = 0
    while count[0] < args.count:
        seed = args.first_seed + chunk_index
        examples = min(args.chunk, args.count - count[0])
        test = with_seed(seed)(make(examples))
        before = count[0]
        try:
            test()
        except Exception as exc:  # a finding: print it with its seed and stop
            print(f"{name}: FOUND with --first-seed {seed} after {count[0]} inputs: {type(exc).__name__}: {exc}")
            return 1
        if count[0] == before:  # hypothesis ran nothing (should not happen): do not spin
            break
        chunk_index += 1
        cpu = time.process_time() - started_cpu
        wall = time.perf_counter() - started_wall
        print(f"{name}: {count[0]:>7} inputs, {cpu:7.1f} s CPU ({count[0] / max(cpu, 1e-9):6.0f}/s CPU), "
              f"{wall:7.1f} s wall, seed {seed}", flush=True)  # fmt: skip
        if args.budget_s is not None and wall > args.budget_s:
            print(f"{name}: stopped by --budget-s {args.budget_s:.0f} after {count[0]} of {args.count} inputs")
            break
    print(f"{name}: {count[0]} inputs, no exception; outcomes: {dict(outcomes.most_common())}")
    return 0
