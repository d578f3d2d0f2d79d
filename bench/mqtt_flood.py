"""Check that the load generator of tests/faults/mqtt_flood.py reaches a rate: it publishes to a private Mosquitto
while a counting subscriber (QoS 0, packets counted, not decoded) receives everything.

    python bench/mqtt_flood.py --rate 30000 --seconds 10 [--qos 0|1] [--window 30000] [--connections 3]

Prints the rate written, acknowledged by the broker and received by the subscriber, and the CPU seconds of this
process (generator and subscriber) and of the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.faults.harness import GAMMA_DEVICES, Mosquitto
from tests.faults.mqtt_flood import CountingSubscriber, Flood, process_cpu_s


async def check(rate: float, seconds: float, qos: int, window: int, connections: int) -> None:
    """Publish to a private Mosquitto with a counting subscriber; print offered, acknowledged and received rates."""
    with tempfile.TemporaryDirectory(prefix="hazwatch-flood-") as directory:
        broker = Mosquitto(Path(directory))
        broker.start()
        try:
            subscriber = CountingSubscriber(broker.port, "flood/#")
            await subscriber.start()
            publisher = Flood(broker.port, "flood", GAMMA_DEVICES[:-1], connections, qos, window)
            await publisher.connect()
            cpu_before = time.process_time()
            took = await publisher.publish(rate, seconds)
            cpu = time.process_time() - cpu_before
            await publisher.close()
            assert broker.process is not None
            broker_cpu = process_cpu_s(broker.process.pid)
            await asyncio.sleep(1.5)  # the subscriber's last second
            await subscriber.stop()
        finally:
            broker.stop()
    steady = subscriber.per_second[1:-1] or subscriber.per_second
    print(f"offered {rate:.0f} msg/s for {seconds:.0f} s (QoS {qos}, window {window}, {connections} connections): "
          f"written {publisher.written} in {took:.1f} s = {publisher.written / took:.0f} msg/s; "
          f"acknowledged {publisher.acknowledged}; "
          f"ticks limited by the window {publisher.window_full_ticks}")  # fmt: skip
    print(f"subscriber received {subscriber.received} ({subscriber.received / took:.0f} msg/s; steady seconds: "
          f"median {np.median(steady):.0f}, min {min(steady)})")  # fmt: skip
    print(f"generator CPU {cpu:.1f} s (process time, includes the subscriber), broker CPU {broker_cpu:.1f} s, over "
          f"{took:.1f} s wall")  # fmt: skip


def main() -> None:
    """Command line: check the generator reaches a rate."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=30_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--qos", type=int, choices=(0, 1), default=1)
    parser.add_argument("--window", type=int, default=30_000)
    parser.add_argument("--connections", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(check(args.rate, args.seconds, args.qos, args.window, args.connections))


if __name__ == "__main__":
    main()
