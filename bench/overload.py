"""Overload: drive the service at a multiple (default 3x) of the rate it sustains and print what happened.

    python bench/overload.py [--factor 3 | --rate MSG_S] [--seconds 60] [--calibrate 150000]

Real processes, as in tests/faults: a Mosquitto with persistence, ``hazwatch run`` on SQLite, and ``mosquitto_pub``
processes publishing one gamma reading per message at QoS 1 (each reading its own time, so every one is counted).

1. Capacity: ``--calibrate`` messages wait at the broker while the service is stopped; the service is started and
   the rate from ready to all stored is its capacity (messages/s, wall; its CPU time is printed too).
2. Overload: ``factor x capacity`` messages/s for ``--seconds``. Halfway, one 5,000 nSv/h reading on a gamma
   device outside the bulk stream: its alarm latency is the time until the alarm row is visible in the database.
3. /healthz sampled every 0.5 s: how much of the overload it said "degraded" and the figures it gave.
4. After the load: time until everything is stored, then readings lost / stored twice (every message checked),
   and the service's peak RSS.
5. Recovery: from the end of the load, one 5,000 nSv/h probe reading on the hazard device every ``--probe-every``
   seconds (QoS 1, stamped with its sending time); each probe's latency is the time until its reading is visible in
   the database. Alarm latency has recovered at the first probe from which on every probe is stored within
   ``--normal-latency`` seconds (the hazard device is in alarm: its readings are alarm-level and jump the
   look-ahead, so they wait only for what the broker sends before them).

Wall-clock figures depend on the machine's load (say what it was); CPU seconds of the service are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from daemon.store.reading_chunks import decode_chunk
from tests.faults.harness import (
    GAMMA_DEVICES,
    Mosquitto,
    NumberedPublisher,
    ServiceProcess,
    lost_and_doubled,
    stored_readings,
)

HAZARD_DEVICE = GAMMA_DEVICES[-1]  # not in the bulk stream: its alarm is the hazard reading's, nobody else's
# The shipped 2,000 nSv/h rule without its 60 s on-delay: one reading raises the alarm (as in test_alarm_durability).
RULES = """rules:
  - id: gamma-level-2000
    selector: {kind: [gamma_dose_rate]}
    condition: {name: level, params: {above: 2000, deadband: 200}}
    on_delay_s: 0
    priority: urgent
    classification: hazard
    latching: true
    shelvable: false
    message:
      zh: "{sensor} 剂量率 {value} {unit} 超过 2000 nSv/h"
      en: "{sensor} dose rate {value} {unit} above 2,000 nSv/h"
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def stored_count(db_path: Path) -> int:
    """Readings stored (cheap: the chunks' counts)."""
    if not db_path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(db_path, timeout=10)) as connection:
        try:
            return int(connection.execute("SELECT coalesce(sum(count), 0) FROM reading_chunks").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def hazard_alarm_visible(db_path: Path) -> bool:
    """The hazard device's alarm row is committed."""
    with contextlib.closing(sqlite3.connect(db_path, timeout=10)) as connection:
        row = connection.execute("SELECT count(*) FROM alarms WHERE device_id = ?", (HAZARD_DEVICE,)).fetchone()
    return bool(row[0])


class BulkPublisher:
    """``mosquitto_pub -l`` processes, one per device, fed lines at a paced rate; remembers what it sent."""

    def __init__(self, broker_port: int, prefix: str, devices: list[str], start_time: float) -> None:
        self.numbers = NumberedPublisher(broker_port, prefix, start_time)
        self.devices = devices
        self.processes = {
            device: subprocess.Popen(
                ["mosquitto_pub", "-p", str(broker_port), "-q", "1", "-l", "-t", f"{prefix}/demo-park/{device}",
                 "-i", f"bulk-{prefix}-{device}"],
                stdin=subprocess.PIPE,
            )
            for device in devices
        }  # fmt: skip
        self.next_number = 0
        self.sent: list[tuple[str, float]] = []
        self.last_time: dict[str, float] = {}

    def send(self, count: int, *, real_time: bool = False) -> None:
        """Queue ``count`` more messages (round robin over the bulk devices).

        ``real_time``: stamped with the sending time, as live devices do, so the service's ``data_behind_s`` shows how
        far behind it is (a device's readings at least 1 us apart, which the service keeps apart since its
        redelivery keys are microseconds); otherwise the publisher's numbered times (10 ms apart).
        """
        lines: dict[str, list[bytes]] = {device: [] for device in self.devices}
        produced = 0
        now = time.time()
        while produced < count:
            number = self.next_number
            self.next_number += 1
            device = GAMMA_DEVICES[number % len(GAMMA_DEVICES)]
            if device not in lines:
                continue
            if real_time:
                # The service takes a sensor's readings a microsecond apart as distinct (seen_readings.py).
                t = round(max(now, self.last_time.get(device, 0.0) + 1e-6), 6)
                self.last_time[device] = t
                payload = f'[{{"bn":"{device}:","bt":{t:.6f},"n":"dose_rate","u":"nSv/h","v":90.0}}]'.encode()
                key = (f"{device}-dose", float(f"{t:.6f}"))
            else:
                _, payload, key = self.numbers.message(number)
            lines[device].append(payload + b"\n")
            self.sent.append(key)
            produced += 1
        for device, chunk in lines.items():
            stdin = self.processes[device].stdin
            assert stdin is not None
            stdin.write(b"".join(chunk))
            stdin.flush()

    def close(self) -> None:
        """Let every mosquitto_pub publish what it was given and exit."""
        for process in self.processes.values():
            assert process.stdin is not None
            process.stdin.close()
        for process in self.processes.values():
            process.wait(timeout=600)


async def wait_count(db_path: Path, expected: int, limit_s: float) -> float:
    """Seconds until ``expected`` readings are stored (or ``limit_s`` passed); polls the file (another process)."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s and stored_count(db_path) < expected:  # noqa: ASYNC110
        await asyncio.sleep(0.25)
    return time.monotonic() - started


async def calibrate(service: ServiceProcess, broker: Mosquitto, count: int) -> float:
    """Messages per second the service drains from a backlog at the broker."""
    # Numbered times 10 ms apart, ending a minute ago: recent, so they do not make /healthz "behind" afterwards. The
    # numbers of the hazard device are skipped, so ``count`` messages span count * 10/9 numbers: without that factor
    # 150,000 of them ran 106 s into the future, into the load's real-time stamps, and a load reading that happened
    # to fall on the same sensor and millisecond was a second reading with the same key (counted "stored twice").
    span = count * 0.01 * len(GAMMA_DEVICES) / (len(GAMMA_DEVICES) - 1)
    bulk = BulkPublisher(broker.port, service.prefix, GAMMA_DEVICES[:-1], time.time() - 60 - span)
    bulk.send(count)
    bulk.close()  # all at the broker now, the service is stopped
    before = stored_count(service.db_path)
    service.start()
    # The backlog may drain before /healthz answers: rate from the first commit to the last, polled finely.
    while (first := stored_count(service.db_path)) == before:  # noqa: ASYNC110 - another process's file
        await asyncio.sleep(0.02)
    started = time.monotonic()
    while stored_count(service.db_path) < before + count:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    elapsed = time.monotonic() - started
    if first - before > count / 2:
        print(f"warning: {first - before} of {count} stored in the first commit; raise --calibrate")
    await service.wait_ready()
    return (before + count - first) / max(elapsed, 1e-3)


def hazard_jump(db_path: Path, hazard_key: tuple[str, float], since: float) -> tuple[int, int]:
    """Of the bulk readings taken during the load before the hazard reading: how many were judged after it (it
    jumped them) and how many before it (it waited behind them). Judged order is the stored order: chunk by chunk,
    arrival order inside. A figure of order, not of wall time, so runs on a loaded machine compare."""
    with contextlib.closing(sqlite3.connect(db_path, timeout=10)) as connection:
        rows = connection.execute(
            "SELECT format, sensors, data, count FROM reading_chunks WHERE drill = 0 ORDER BY id"
        ).fetchall()
    jumped = waited = 0
    seen_hazard = False
    for fmt, sensors, data, count in rows:
        chunk = decode_chunk(fmt, sensors, data, count)
        for sensor, time_taken in zip(chunk.sensor_id.tolist(), chunk.time.tolist(), strict=True):
            if sensor == hazard_key[0] and round(time_taken, 3) == hazard_key[1]:
                seen_hazard = True
            elif since <= time_taken < hazard_key[1] and sensor != hazard_key[0]:
                jumped += seen_hazard
                waited += not seen_hazard
    return jumped, waited


class Probes:
    """Alarm-level readings on the hazard device after the load, and when each became visible in the database."""

    def __init__(self, broker_port: int, prefix: str, db_path: Path) -> None:
        self.port = broker_port
        self.topic = f"{prefix}/demo-park/{HAZARD_DEVICE}"
        self.db_path = db_path
        self.published: dict[float, float] = {}  # reading time -> monotonic publish time
        self.stored: dict[float, float] = {}  # reading time -> monotonic time first seen stored
        self._after_chunk = 0

    async def publish(self, every_s: float, stop: asyncio.Event) -> None:
        """One probe every ``every_s`` seconds until ``stop``."""
        async with aiomqtt.Client("127.0.0.1", self.port, identifier=f"probe-{self.topic}") as client:
            while not stop.is_set():
                t = round(time.time(), 6)
                payload = f'[{{"bn":"{HAZARD_DEVICE}:","bt":{t:.6f},"n":"dose_rate","u":"nSv/h","v":5000.0}}]'
                await client.publish(self.topic, payload, qos=1)
                self.published[t] = time.monotonic()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(every_s):
                        await stop.wait()

    def poll(self) -> None:
        """Note the probes stored since the last poll (only chunks holding the hazard device's sensor)."""
        now = time.monotonic()
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=10)) as connection:
            rows = connection.execute(
                "SELECT id, format, sensors, data, count FROM reading_chunks WHERE id > ? AND sensors LIKE ?",
                (self._after_chunk, f'%"{HAZARD_DEVICE}-dose"%'),
            ).fetchall()
        for chunk_id, fmt, sensors, data, count in rows:
            self._after_chunk = max(self._after_chunk, chunk_id)
            chunk = decode_chunk(fmt, sensors, data, count)
            for sensor, time_taken in zip(chunk.sensor_id.tolist(), chunk.time.tolist(), strict=True):
                key = round(time_taken, 6)
                if sensor == f"{HAZARD_DEVICE}-dose" and key in self.published:
                    self.stored.setdefault(key, now)

    def latencies(self, since: float) -> list[tuple[float, float | None]]:
        """(published, seconds after ``since``; latency or None: not stored) per probe, in order."""
        return [
            (sent - since, None if t not in self.stored else self.stored[t] - sent)
            for t, sent in sorted(self.published.items(), key=lambda item: item[1])
        ]

    def recovered_after(self, since: float, normal_s: float) -> float | None:
        """Seconds after ``since`` of the first probe from which on every probe was stored within ``normal_s``."""
        series = self.latencies(since)
        recovered: float | None = None
        for sent, latency in series:
            if latency is None or latency > normal_s:
                recovered = None
            elif recovered is None:
                recovered = sent
        return recovered


async def broker_received(port: int) -> int:
    """PUBLISH packets the broker received so far ($SYS, retained, refreshed every 10 s: waits for a fresh one)."""
    topic = "$SYS/broker/publish/messages/received"
    async with aiomqtt.Client("127.0.0.1", port, identifier="overload-sys") as client:
        await client.subscribe(topic)
        values = []
        async with asyncio.timeout(30):
            async for message in client.messages:
                values.append(int(bytes(message.payload).decode()))
                if len(values) == 2:  # the retained value, then the next refresh (after every publisher exited)
                    break
    return values[-1]


async def metric_value(service: ServiceProcess, name: str) -> float | None:
    """One unlabelled sample of the service's /metrics (None: not exposed)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{service.http_port}/metrics") as response,
    ):
        text = await response.text()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


async def sample_health(service: ServiceProcess, samples: list[dict[str, Any]], stop: asyncio.Event) -> None:
    """GET /healthz every 0.5 s until ``stop``."""
    while not stop.is_set():
        with contextlib.suppress(Exception):
            status, body = await service.health()
            samples.append({**body, "t": time.monotonic(), "http_status": status})
        await asyncio.sleep(0.5)


async def main() -> None:
    """Calibrate, overload, report."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--factor", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    # 30,000 drained in under a second once the receive path was cheap (cc83621): the first commit's start-up then
    # dominates and the rate was 5x too high. Under 65,536 per publisher (mosquitto_pub numbers its queue mod 2^16).
    parser.add_argument("--calibrate", type=int, default=150_000)
    parser.add_argument("--rate", type=float, default=None, help="drive this many msg/s instead of factor x capacity")
    parser.add_argument("--probe-every", type=float, default=2.0, help="seconds between recovery probes")
    parser.add_argument("--normal-latency", type=float, default=1.0, help="a probe stored within this has recovered")
    parser.add_argument("--timeline", action="store_true", help="print every /healthz sample of the load")
    parser.add_argument("--receive-maximum", type=int, default=None, help="[mqtt] receive_maximum (default 20,000)")
    parser.add_argument("--lookahead", type=int, default=None, help="[ingest] lookahead_messages (default 10,000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hazwatch-overload-") as directory:
        root = Path(directory)
        broker = Mosquitto(root / "broker")
        broker.start()
        rules = root / "rules.yaml"
        rules.write_text(RULES, encoding="utf-8")
        # No paging: the bench roster has no SMS or voice provider, and "pages reach nobody" would make every
        # /healthz sample degraded for a reason that has nothing to do with load.
        ingest = "decode_workers = 0\n" + (f"lookahead_messages = {args.lookahead}\n" if args.lookahead else "")
        mqtt = f"receive_maximum = {args.receive_maximum}\n" if args.receive_maximum else ""
        config = f'[ingest]\n{ingest}[alarms]\nrule_files = ["{rules}"]\n[notify]\nenabled = false\n'
        service = ServiceProcess(root / "service", broker.port, "overload", config, mqtt_extra=mqtt)
        try:
            service.start()  # once, to create the persistent session the calibration backlog waits in
            await service.wait_ready()
            service.terminate()
            capacity = await calibrate(service, broker, args.calibrate)
            calibrated = stored_count(service.db_path)
            assert service.process is not None
            pid = service.process.pid
            cpu_before = cpu_seconds(pid)
            rate = args.rate or args.factor * capacity
            print(f"capacity {capacity:.0f} msg/s (wall, draining {args.calibrate}); driving {rate:.0f} msg/s "
                  f"for {args.seconds:.0f} s", flush=True)  # fmt: skip
            load_started_wall = time.time()
            bulk = BulkPublisher(broker.port, service.prefix, GAMMA_DEVICES[:-1], load_started_wall)
            samples: list[dict[str, Any]] = []
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_health(service, samples, stop))
            started = time.monotonic()
            hazard_at: float | None = None
            hazard_key = ("", 0.0)
            alarm_latency: float | None = None
            tick = 0.1
            while (elapsed := time.monotonic() - started) < args.seconds:
                bulk.send(int(rate * tick), real_time=True)
                if hazard_at is None and elapsed >= args.seconds / 2:
                    hazard = NumberedPublisher(broker.port, service.prefix, time.time())
                    hazard.sent = []
                    number = len(GAMMA_DEVICES) - 1  # message 9 is the hazard device
                    topic, payload, hazard_key = hazard.message(number, 5000.0)
                    one = await asyncio.create_subprocess_exec(
                        "mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t", topic, "-m", payload.decode()
                    )
                    await one.wait()
                    hazard_at = time.monotonic()
                if hazard_at is not None and alarm_latency is None and hazard_alarm_visible(service.db_path):
                    alarm_latency = time.monotonic() - hazard_at
                await asyncio.sleep(tick)
            load_ended = time.monotonic()
            probes = Probes(broker.port, service.prefix, service.db_path)
            probes_stop = asyncio.Event()
            prober = asyncio.create_task(probes.publish(args.probe_every, probes_stop))
            stored_at_load_end = stored_count(service.db_path)
            bulk.close()
            published_s = time.monotonic() - started
            at_broker = await broker_received(broker.port) - len(probes.published)  # probes: +-1 refresh's worth
            expected = calibrated + len(bulk.sent) + 1
            # Everything given to the publishers stored, or nothing more stored for 30 s (what the publishers never
            # handed the broker is never coming: see the warning below).
            last_count, last_growth = -1, time.monotonic()
            while (count := stored_count(service.db_path)) < expected + len(probes.stored):
                if count != last_count:
                    last_count, last_growth = count, time.monotonic()
                elif time.monotonic() - last_growth > 30:
                    break
                if hazard_at is not None and alarm_latency is None and hazard_alarm_visible(service.db_path):
                    alarm_latency = time.monotonic() - hazard_at
                probes.poll()
                await asyncio.sleep(0.25)
            stalled = count < expected + len(probes.stored)
            drained_s = (last_growth if stalled else time.monotonic()) - load_ended
            for _ in range(int(10 / 0.25)):  # a few probes on the drained service: its normal latency
                probes.poll()
                await asyncio.sleep(0.25)
            probes_stop.set()
            await prober
            for _ in range(int(3 / 0.25)):
                probes.poll()
                await asyncio.sleep(0.25)
            if alarm_latency is None and hazard_alarm_visible(service.db_path):
                alarm_latency = time.monotonic() - (hazard_at or 0.0)
            await asyncio.sleep(12.0)  # /healthz judges a finished backlog's tail as history after stall_after_s (10 s)
            stop.set()
            await sampler
            cpu_used = cpu_seconds(pid) - cpu_before
            peak_rss = peak_rss_bytes(pid)
            counts = stored_readings(service.db_path)
            urgent_count = await metric_value(service, "hazwatch_ingest_urgent_messages_total")
            jumped = hazard_jump(service.db_path, hazard_key, load_started_wall) if hazard_at is not None else None
            service.terminate()
            logs = service.logs()
            reconnects = logs.count("lost or refused")
            write_failures = logs.count("database write failed")
        finally:
            if service.process is not None and service.process.poll() is None:
                service.kill()
            broker.stop()
    lost, doubled = lost_and_doubled(bulk.sent, counts)
    short = calibrated + len(bulk.sent) + 1 - at_broker
    if short > 10:
        print(
            f"warning: the publishers handed the broker {short} fewer messages than they were given (mosquitto_pub "
            "drops its queue's tail at exit when it numbered more than 65,535 ahead): 'lost' counts those too"
        )
    during = [s for s in samples if s["t"] <= load_ended]
    degraded = [s for s in during if s["http_status"] != 200]
    after = [s for s in samples if s["t"] > load_ended + drained_s]
    offered = len(bulk.sent) / args.seconds
    achieved = (stored_at_load_end - calibrated) / args.seconds
    print(f"offered {len(bulk.sent)} messages in {args.seconds:.0f} s ({offered:.0f} msg/s = "
          f"{offered / capacity:.1f}x capacity; the publishers took {published_s:.0f} s)")  # fmt: skip
    print(f"stored during the load {achieved:.0f} msg/s: offered / stored = {offered / max(achieved, 1e-9):.1f}")
    print(f"stored everything {drained_s:.0f} s after the load ended; lost {len(lost)}, stored twice {len(doubled)}")
    if lost or doubled:
        sent_twice = sum(1 for key, n in Counter(bulk.sent).items() if n > 1)
        print(
            f"  e.g. lost {lost[:3]}, stored twice {doubled[:3]}; keys the bench sent twice: {sent_twice}; "
            f"MQTT connections lost: {reconnects}; failed database writes (retried): {write_failures}"
        )
    print(f"service CPU {cpu_used:.1f} s over the run; peak RSS {peak_rss / 2**20:.0f} MB")
    latency = "never" if alarm_latency is None else f"{alarm_latency:.1f} s"
    print(f"hazard reading published at {args.seconds / 2:.0f} s: alarm stored after {latency}")
    recovered = probes.recovered_after(load_ended, args.normal_latency)
    series = probes.latencies(load_ended)
    print(
        f"alarm latency recovered {'never' if recovered is None else f'{recovered:.0f} s'} after the load ended "
        f"(probe every {args.probe_every:g} s; recovered: every later probe stored within {args.normal_latency:g} s)"
    )
    shown = series[:: max(1, len(series) // 20)]
    text = ", ".join(f"{sent:.0f}: {'not stored' if latency is None else f'{latency:.1f}'}" for sent, latency in shown)
    print(f"  probes (sent s after the load ended: latency s): {text}")
    print(f"urgent messages judged ahead of the backlog: {urgent_count}")
    if jumped is not None:
        print(f"hazard reading judged ahead of {jumped[0]} readings taken before it; behind {jumped[1]}")
    print(f"/healthz during the load: {len(degraded)} of {len(during)} samples degraded")
    for key in (
        "unacknowledged_messages",
        "ingest_lag_s",
        "data_behind_s",
        "data_later_than_usual_s",
        "store_backlog_rows",
    ):
        values = [float(s[key]) for s in during if s.get(key) is not None]
        if values:
            print(f"  {key}: max {max(values):.1f}, last {values[-1]:.1f}")
    print(f"  broker_queues_more in {sum(1 for s in during if s.get('broker_queues_more'))} samples")
    causes = {
        "stalled": [s for s in degraded if s.get("stalled")],
        "broker_queues_more": [s for s in degraded if s.get("broker_queues_more")],
        "data later than usual > 10 s": [s for s in degraded if float(s.get("data_later_than_usual_s") or 0.0) > 10.0],
        "store failing": [s for s in degraded if s.get("store_failing_s") is not None],
        "pages_reach_people false": [s for s in degraded if s.get("pages_reach_people") is False],
        "failed tasks": [s for s in degraded if s.get("failed_tasks")],
        "ingest lag > 30 s": [s for s in degraded if float(s.get("ingest_lag_s") or 0.0) > 30.0],
        "database_ok false": [s for s in degraded if s.get("database_ok") is False],
        "broker not connected": [s for s in degraded if s.get("broker_connected") is False],
    }
    print("  degraded samples by cause: " + ", ".join(f"{name} {len(found)}" for name, found in causes.items()))
    print(f"/healthz after the backlog drained: {[s['http_status'] for s in after][-5:]}")
    if args.timeline:
        for sample in samples:
            print(f"  {sample['t'] - started:6.1f} s {sample['http_status']} behind {sample.get('data_behind_s')} "
                  f"later {sample.get('data_later_than_usual_s')} waiting {sample.get('messages_waiting')} "
                  f"unacked {sample.get('unacknowledged_messages')}")  # fmt: skip
    first_degraded = next((s["t"] - started for s in during if s["http_status"] != 200), None)
    print(f"/healthz first degraded {first_degraded and round(first_degraded, 1)} s into the load")
    if after and after[-1]["http_status"] != 200:
        print(f"  last sample: {after[-1]}")


if __name__ == "__main__":
    asyncio.run(main())
