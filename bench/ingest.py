"""End-to-end ingest throughput vs a bare aiomqtt subscriber, measured in the same run.

Both consumers drain the same backlog: N SenML messages (10 readings each) published at QoS 1
into a persistent session while the consumer is away, on a private Mosquitto with unlimited
queues. Draining a backlog measures what the consumer sustains, not how fast one Python
publisher can send. The service path is complete: receive, decode, detect, alarm, store (SQLite).

    python bench/ingest.py [--messages 20000] [--rounds 3] [--db sqlite:///PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt
from private_broker import start_mosquitto

from daemon.config import ServiceConfig
from daemon.service import Service
from rules.site import Site

READINGS_PER_MESSAGE = 10
NO_STORE = "--no-store" in sys.argv


def bench_site(devices: int) -> Site:
    """A large park: ``devices`` boundary detectors with two gas channels each (a city-scale network)."""
    gases = ("Cl2", "NH3", "HCl", "H2S", "HF")
    return Site.model_validate(
        {
            "site": "bench-park",
            "name": "benchmark park",
            "center": {"lat": 31.9, "lon": 121.1},
            "zones": [{"id": "boundary", "name": "boundary", "type": "boundary"}],
            "devices": [
                {
                    "id": f"gas-{d:05d}",
                    "type": "gas_detector",
                    "position": {"lat": 31.9 + (d % 100) * 1e-4, "lon": 121.1 + (d // 100) * 1e-4},
                    "zone": "boundary",
                    "report_interval_s": 10,
                    "sensors": [
                        {"id": f"gas-{d:05d}-{k}", "name": f"ch{k}", "kind": "gas", "unit": "ppm",
                         "substance": gases[(d + k) % len(gases)]}
                        for k in range(2)
                    ],
                }
                for d in range(devices)
            ],
        }
    )  # fmt: skip


def messages(prefix: str, site: Site, n: int) -> list[tuple[str, bytes]]:
    """N messages round-robin over the site's detectors, 10 readings each (5 samples of 2 channels).

    Values carry a little noise, as real detectors do: identical repeats would (rightly) be flagged
    stuck and turn the benchmark into a test of the quality alarms.
    """
    rng = random.Random(1)
    now = time.time() - 3600
    out: list[tuple[str, bytes]] = []
    for i in range(n):
        device = site.devices[i % len(site.devices)]
        records: list[dict[str, object]] = [{"bn": f"{device.id}:", "bt": now + i * 0.01}]
        for k in range(READINGS_PER_MESSAGE):
            value = round(0.02 + 0.01 * rng.random(), 5)
            records.append({"n": device.sensors[k % 2].name, "v": value, "u": "ppm", "t": (k // 2) * 2.0})
        out.append((f"{prefix}/{site.site}/{device.id}", json.dumps(records).encode()))
    return out


async def publish(port: int, batch: list[tuple[str, bytes]]) -> None:
    """Publish the backlog at QoS 1."""
    async with aiomqtt.Client("127.0.0.1", port, identifier="bench-publisher", max_inflight_messages=1000) as client:
        for topic, payload in batch:
            await client.publish(topic, payload, qos=1)


async def bare_subscriber(port: int, prefix: str, batch: list[tuple[str, bytes]], client_id: str) -> float:
    """Messages/s for a client that only receives and parses JSON."""
    async with aiomqtt.Client("127.0.0.1", port, identifier=client_id, clean_session=False, timeout=120) as client:
        await client.subscribe(f"{prefix}/#", qos=1)
    await publish(port, batch)
    received = 0
    async with aiomqtt.Client("127.0.0.1", port, identifier=client_id, clean_session=False, timeout=120) as client:
        started = time.perf_counter()
        await client.subscribe(f"{prefix}/#", qos=1)
        async for message in client.messages:
            json.loads(message.payload)  # type: ignore[arg-type,unused-ignore]  # payload is bytes here; the stub says a union
            received += 1
            if received == len(batch):
                break
        elapsed = time.perf_counter() - started
    return received / elapsed


async def service_path(
    port: int, prefix: str, batch: list[tuple[str, bytes]], db_url: str, site: Site
) -> tuple[float, float]:
    """Messages/s and readings/s for the full service, counted when every reading is committed."""
    config = ServiceConfig()
    config.mqtt.broker = f"mqtt://127.0.0.1:{port}"
    config.mqtt.topic_prefix = prefix
    config.mqtt.client_id = f"{prefix}-service"
    config.database.url = db_url
    config.database.store_readings = not NO_STORE
    config.http.port = 0
    first = Service(config, site)
    await first.start()
    await first.wait_connected()
    await first.stop()
    await publish(port, batch)
    service = Service(config, site)
    await service.start()
    started = time.perf_counter()
    target = len(batch) * READINGS_PER_MESSAGE
    while service.metrics.ingest_readings._value.get() < target:
        await asyncio.sleep(0.01)
        service.intake.flush_if_due()
    await service.writer.flush()
    elapsed = time.perf_counter() - started
    readings = service.metrics.ingest_readings._value.get()
    await service.stop()
    return len(batch) / elapsed, readings / elapsed


async def main() -> None:
    """Run both consumers on the same backlog and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument(
        "--devices", type=int, default=1000, help="gas detectors in the benchmark site (2 channels each)"
    )
    parser.add_argument("--no-store", action="store_true", help="do not store readings (alarms still stored)")
    parser.add_argument("--db", help="database URL for the service (default: a temp SQLite file)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="bare/service pairs, interleaved (the machine may be shared)"
    )
    args = parser.parse_args()
    bare_rates, service_rates, reading_rates, ratios = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        broker, port = start_mosquitto(Path(tmp))
        try:
            site = bench_site(args.devices)
            for round_ in range(args.rounds):
                # Fresh topics and client ids per round: no session or retained state carries over.
                bare_prefix, service_prefix = f"bench-bare-{round_}", f"bench-svc-{round_}"
                bare = await bare_subscriber(
                    port, bare_prefix, messages(bare_prefix, site, args.messages), f"bench-bare-{round_}"
                )
                db_url = args.db or f"sqlite:///{Path(tmp) / f'bench-{round_}.db'}"
                msg_rate, reading_rate = await service_path(
                    port, service_prefix, messages(service_prefix, site, args.messages), db_url, site
                )
                bare_rates.append(bare)
                service_rates.append(msg_rate)
                reading_rates.append(reading_rate)
                ratios.append(msg_rate / bare)
                print(
                    f"round {round_ + 1}: bare {bare:8.0f} msg/s, service {msg_rate:8.0f} msg/s, {msg_rate / bare:6.1%}"
                )
        finally:
            broker.terminate()
            broker.wait()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    median = statistics.median
    print(f"site                       {args.devices} gas detectors, {2 * args.devices} sensors")
    print(f"messages per consumer      {args.messages} x {READINGS_PER_MESSAGE} readings, {args.rounds} rounds")
    print(f"bare aiomqtt + json.loads  {median(bare_rates):10.0f} messages/s (median)")
    print(
        f"hazwatch end to end        {median(service_rates):10.0f} messages/s "
        f"({median(reading_rates):.0f} readings/s, stored; median)"
    )
    print(f"ratio service / bare       {median(ratios):10.1%}   (median of rounds; target >= 80%)")
    worker_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS                   {peak_mib:10.0f} MiB (largest child process: {worker_mib:.0f} MiB)")


if __name__ == "__main__":
    asyncio.run(main())
