"""End-to-end ingest throughput vs a bare aiomqtt subscriber, measured in the same run.

Both consumers drain the same backlog: N SenML messages (10 readings each) published at QoS 1
into a persistent session while the consumer is away, on a private Mosquitto with unlimited
queues. Draining a backlog measures what the consumer sustains, not how fast one Python
publisher can send. The service path is complete: receive, decode, detect, alarm, store (SQLite).

    python bench/ingest.py [--messages 20000] [--db sqlite:///PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt

from daemon.config import DEFAULT_SITE, ServiceConfig
from daemon.service import Service
from daemon.site_file import load_site

READINGS_PER_MESSAGE = 10
NO_STORE = "--no-store" in sys.argv


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_mosquitto(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A private broker that queues without limit for offline persistent sessions."""
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 0\n"
    )
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    process = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return process, port


def messages(prefix: str, site: str, n: int) -> list[tuple[str, bytes]]:
    """N messages spread over the demo site's gas detectors, 10 readings each (5 per channel)."""
    now = time.time() - 3600
    out: list[tuple[str, bytes]] = []
    devices = [f"gas-{side}{i:02d}" for side in "nesw" for i in range(1, 6)]
    demo = load_site(DEFAULT_SITE)
    names = {d.id: [s.name for s in d.sensors] for d in demo.devices}
    for i in range(n):
        device = devices[i % len(devices)]
        records: list[dict[str, object]] = [{"bn": f"{device}:", "bt": now + i * 0.01}]
        for k in range(READINGS_PER_MESSAGE):
            records.append({"n": names[device][k % 2], "v": 0.01 * (k + 1), "u": "ppm", "t": k * 0.001})
        out.append((f"{prefix}/{site}/{device}", json.dumps(records).encode()))
    return out


async def publish(port: int, batch: list[tuple[str, bytes]]) -> None:
    """Publish the backlog at QoS 1."""
    async with aiomqtt.Client("127.0.0.1", port, identifier="bench-publisher", max_inflight_messages=1000) as client:
        for topic, payload in batch:
            await client.publish(topic, payload, qos=1)


async def bare_subscriber(port: int, prefix: str, batch: list[tuple[str, bytes]]) -> float:
    """Messages/s for a client that only receives and parses JSON."""
    client_id = "bench-bare"
    async with aiomqtt.Client("127.0.0.1", port, identifier=client_id, clean_session=False) as client:
        await client.subscribe(f"{prefix}/#", qos=1)
    await publish(port, batch)
    received = 0
    async with aiomqtt.Client("127.0.0.1", port, identifier=client_id, clean_session=False) as client:
        started = time.perf_counter()
        await client.subscribe(f"{prefix}/#", qos=1)
        async for message in client.messages:
            json.loads(message.payload)  # type: ignore[arg-type]
            received += 1
            if received == len(batch):
                break
        elapsed = time.perf_counter() - started
    return received / elapsed


async def service_path(port: int, prefix: str, batch: list[tuple[str, bytes]], db_url: str) -> tuple[float, float]:
    """Messages/s and readings/s for the full service, counted when every reading is committed."""
    config = ServiceConfig()
    config.mqtt.broker = f"mqtt://127.0.0.1:{port}"
    config.mqtt.topic_prefix = prefix
    config.mqtt.client_id = "bench-service"
    config.database.url = db_url
    config.database.store_readings = not NO_STORE
    config.http.port = 0
    site = load_site(DEFAULT_SITE)
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
    parser.add_argument("--no-store", action="store_true", help="do not store readings (alarms still stored)")
    parser.add_argument("--db", help="database URL for the service (default: a temp SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker, port = start_mosquitto(Path(tmp))
        try:
            batch_bare = messages("bench-bare", "demo-park", args.messages)
            batch_service = messages("bench-svc", "demo-park", args.messages)
            bare = await bare_subscriber(port, "bench-bare", batch_bare)
            db_url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
            msg_rate, reading_rate = await service_path(port, "bench-svc", batch_service, db_url)
        finally:
            broker.terminate()
            broker.wait()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"messages per consumer      {args.messages} x {READINGS_PER_MESSAGE} readings")
    print(f"bare aiomqtt + json.loads  {bare:10.0f} messages/s")
    print(f"hazwatch end to end        {msg_rate:10.0f} messages/s  ({reading_rate:.0f} readings/s, stored)")
    print(f"ratio service / bare       {msg_rate / bare:10.1%}   (target >= 80%)")
    print(f"peak RSS                   {peak_mib:10.0f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
