"""CPU per message from ``Intake.accept`` to a committed SQLite row, with and without the overload read-ahead.

    python bench/intake_cpu.py [--messages 40000] [--rounds 2] [--batch-sizes 500,2000,10000]

No broker (the MQTT receive is not in the figure): the seam of tests/seam.py, single-reading gamma messages, the
clock moved 50 ms every 500 messages with the timer's flush_if_due. "read-ahead" says the service is behind and the
socket holds more, so every message past the first batch is pre-screened and waits in the look-ahead. CPU time
(process_time: the loop and the SQLite thread), not wall time.

``--batch-sizes``: instead, batches of exactly each size (``ingest.batch_max_messages``, no timer ticks), as a
backlog drains: what a "catch-up mode" growing the batches while behind would save per message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from daemon.chain.build import AlarmSetup, build_intake
from daemon.config import DEFAULT_SITE
from daemon.site_file import load_site
from tests.seam import Chain, live_chain

DEVICES = [f"gamma-{n:02d}" for n in range(1, 11)]


def _messages(chain: Chain, count: int) -> list[tuple[str, bytes]]:
    """``count`` single-reading gamma messages over the ten stations, 30 s old."""
    t0 = chain.clock.now() - 30
    msgs = []
    for i in range(count):
        dev = DEVICES[i % 10]
        record = {"bn": f"{dev}:", "bt": t0 + i * 1e-4, "n": "dose_rate", "u": "nSv/h", "v": 90.0}
        msgs.append((chain.topic(dev), json.dumps([record]).encode()))
    return msgs


async def run(read_ahead: bool, count: int) -> float:
    """Microseconds of CPU per message."""
    with tempfile.TemporaryDirectory() as d:
        async with live_chain(f"sqlite:///{d}/h.db", load_site(DEFAULT_SITE), 1_800_000_000.0) as chain:
            rules = AlarmSetup.load(chain.config.alarms).rules
            intake = build_intake(chain.config, chain.pipeline, chain.writer, chain.metrics, chain.clock, rules=rules)
            intake.input_pending = lambda: read_ahead
            msgs = _messages(chain, count)
            started = time.process_time()
            for i, (topic, payload) in enumerate(msgs):
                if read_ahead:
                    intake.behind_excess_s = 30.0  # behind: read ahead
                intake.accept(topic, payload, chain.clock.now())
                if i % 500 == 0:
                    chain.clock.advance(0.05)
                    intake.flush_if_due()
            intake.input_pending = lambda: False
            intake.flush()
            await chain.writer.flush()
            return (time.process_time() - started) / count * 1e6


async def fixed_batches(size: int, count: int) -> float:
    """Microseconds of CPU per message when every batch holds ``size`` messages."""
    with tempfile.TemporaryDirectory() as d:
        async with live_chain(f"sqlite:///{d}/h.db", load_site(DEFAULT_SITE), 1_800_000_000.0) as chain:
            chain.config.ingest.batch_max_messages = size
            chain.config.ingest.lookahead_messages = size
            rules = AlarmSetup.load(chain.config.alarms).rules
            intake = build_intake(chain.config, chain.pipeline, chain.writer, chain.metrics, chain.clock, rules=rules)
            msgs = _messages(chain, count)
            started = time.process_time()
            for topic, payload in msgs:
                intake.accept(topic, payload, chain.clock.now())
            intake.flush()
            await chain.writer.flush()
            return (time.process_time() - started) / count * 1e6


async def main() -> None:
    """Alternate the two modes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-sizes", default=None, help="comma-separated: fixed batch sizes instead of the modes")
    args = parser.parse_args()
    if args.batch_sizes:
        sizes = [int(size) for size in args.batch_sizes.split(",")]
        for _ in range(args.rounds):
            for size in sizes:
                figure = await fixed_batches(size, args.messages)
                print(f"batches of {size:6d}: {figure:.1f} us CPU per message", flush=True)
        return
    for _ in range(args.rounds):
        for mode in (False, True):
            figure = await run(mode, args.messages)
            print(f"{'read-ahead' if mode else 'in order  '}: {figure:.1f} us CPU per message", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
