"""Overload: drive the service at a multiple (default 3x) of the rate it sustains and print what happened.

    python bench/overload.py [--factor 3 | --rate MSG_S] [--seconds 60] [--calibrate-rate 30000] [--priority-lane]

Real processes, as in tests/faults: a Mosquitto with persistence, ``hazwatch run`` on SQLite, and the raw-socket
generator of bench/mqtt_flood.py publishing one gamma reading per message at QoS 1 (each stamped with its sending time
in microseconds, so every one is counted; "published" is what the broker acknowledged).

1. Sustainable rate, measured under the same conditions as the overload (the generator running): the generator
   offers ``--calibrate-rate`` for ``--calibrate-seconds``; the rate at which the service stores readings after the
   first ``--calibrate-skip`` seconds is its capacity (msg/s, wall; CPU seconds are printed too). Then it drains.
2. Overload: ``factor x capacity`` messages/s for ``--seconds``. Halfway, one 5,000 nSv/h reading on a gamma
   device outside the bulk stream: its alarm latency is the time until the alarm row is visible in the database.
   Sampled every 0.5 s: /healthz, the service's RSS and the broker's queue ($SYS/broker/store/messages/count).
3. After the load: time until everything is stored, then readings lost / stored twice (every message checked),
   and the service's peak RSS.
4. Recovery: from the end of the load, one 5,000 nSv/h probe reading on the hazard device every ``--probe-every``
   seconds (QoS 1, stamped with its sending time); each probe's latency is the time until its reading is visible in
   the database. Alarm latency has recovered at the first probe from which on every probe is stored within
   ``--normal-latency`` seconds (the hazard device is in alarm: its readings are alarm-level and jump the
   look-ahead, so they wait only for what the broker sends before them).
   ``--priority-lane``: the hazard device is on its own MQTT session (``mqtt.priority_devices``), so its readings do
   not wait for the bulk queued at the broker for the main session.

Wall-clock figures depend on the machine's load (the load average is printed); CPU seconds of the service, the broker
and this process (generator, probes and polling) are printed beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from daemon.store.reading_chunks import decode_chunk
from tests.faults.harness import GAMMA_DEVICES, Mosquitto, NumberedPublisher, ServiceProcess
from tests.faults.mqtt_flood import DEVICE_BITS, Flood, process_cpu_s

HAZARD_DEVICE = GAMMA_DEVICES[-1]  # not in the bulk stream: its alarm is the hazard reading's, nobody else's
BULK_DEVICES = GAMMA_DEVICES[:-1]

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


def stored_keys(db_path: Path) -> np.ndarray:
    """Every stored live reading of the bulk devices as the generator's keys (microseconds * 16 + device index)."""
    index = {f"{device}-dose": i for i, device in enumerate(BULK_DEVICES)}
    keys = []
    with contextlib.closing(sqlite3.connect(db_path, timeout=10)) as connection:
        rows = connection.execute("SELECT format, sensors, data, count FROM reading_chunks WHERE drill = 0")
        for fmt, sensors, data, count in rows:
            chunk = decode_chunk(fmt, sensors, data, count)
            devices = np.array([index.get(sensor, -1) for sensor in chunk.sensor_id.tolist()], dtype=np.int64)
            micros = np.round(np.asarray(chunk.time, dtype=np.float64) * 1e6).astype(np.int64)
            mine = devices >= 0
            keys.append(micros[mine] * DEVICE_BITS + devices[mine])
    return np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)


def lost_and_doubled(sent: np.ndarray, stored: np.ndarray) -> tuple[int, int, int]:
    """(sent but never stored, stored more than once, sent twice by the generator: must be 0)."""
    unique, counts = np.unique(stored, return_counts=True)
    sent_unique = np.unique(sent)
    return (
        int(np.setdiff1d(sent_unique, unique, assume_unique=True).size),
        int(np.count_nonzero(counts > 1)),
        int(sent.size - sent_unique.size),
    )


def rss_bytes(pid: int) -> int:
    """The process's resident set now (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class BrokerQueue:
    """Messages the broker holds ($SYS/broker/store/messages/count, refreshed every ``sys_interval``), sampled."""

    port: int
    samples: list[tuple[float, int]] = field(default_factory=list)

    async def follow(self, stop: asyncio.Event) -> None:
        """Record every refresh until ``stop``."""
        async with aiomqtt.Client("127.0.0.1", self.port, identifier="overload-sys") as client:
            await client.subscribe("$SYS/broker/store/messages/count")
            messages = aiter(client.messages)
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        message = await anext(messages)
                        self.samples.append((time.monotonic(), int(bytes(message.payload).decode())))

    def peak(self, start: float, end: float) -> int:
        """The largest queue sampled between ``start`` and ``end`` (monotonic)."""
        return max((n for t, n in self.samples if start <= t <= end), default=0)

    def at(self, moment: float) -> int:
        """The last sample at or before ``moment``."""
        return next((n for t, n in reversed(self.samples) if t <= moment), 0)


async def sustainable_rate(
    service: ServiceProcess, broker: Mosquitto, rate: float, seconds: float, skip: float, connections: int
) -> tuple[float, Flood, float]:
    """The service's storing rate while the generator offers ``rate`` (more than it takes) for ``seconds``; the
    generator (to count what it sent) and the service's CPU seconds over the measured part."""
    assert service.process is not None
    flood = Flood(broker.port, service.prefix, BULK_DEVICES, connections, name="calibrate")
    await flood.connect()
    publishing = asyncio.create_task(flood.publish(rate, seconds))
    await asyncio.sleep(skip)  # past the start: the first batches and commits are not the steady state
    first, first_at, cpu_first = stored_count(service.db_path), time.monotonic(), process_cpu_s(service.process.pid)
    await publishing
    last, last_at, cpu_last = stored_count(service.db_path), time.monotonic(), process_cpu_s(service.process.pid)
    await flood.close()
    offered = flood.written / seconds
    print(f"calibration: the generator offered {offered:.0f} msg/s for {seconds:.0f} s "
          f"({flood.window_full_ticks} ticks limited by its window); stored {first} after {skip:.0f} s, "
          f"{last} at the end", flush=True)  # fmt: skip
    if last <= first:
        raise SystemExit("nothing stored while the generator ran: raise --calibrate-seconds or --calibrate-skip")
    return (last - first) / (last_at - first_at), flood, cpu_last - cpu_first


async def wait_drained(db_path: Path, expected: int, quiet_s: float = 30.0) -> tuple[bool, float]:
    """Wait until ``expected`` readings are stored, or nothing more was stored for ``quiet_s``; (drained, seconds)."""
    started = last_growth = time.monotonic()
    last_count = -1
    while (count := stored_count(db_path)) < expected:
        if count != last_count:
            last_count, last_growth = count, time.monotonic()
        elif time.monotonic() - last_growth > quiet_s:
            return False, last_growth - started
        await asyncio.sleep(0.25)
    return True, time.monotonic() - started


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
    parser.add_argument("--rate", type=float, default=None, help="drive this many msg/s instead of factor x capacity")
    parser.add_argument("--calibrate-rate", type=float, default=30_000, help="offered while measuring the capacity")
    # Stored counts move in steps of the receive window (20,000) while flooded: 20 s measured hold several steps.
    parser.add_argument("--calibrate-seconds", type=float, default=30.0)
    parser.add_argument("--calibrate-skip", type=float, default=10.0, help="seconds of the calibration not measured")
    parser.add_argument("--connections", type=int, default=3, help="generator connections")
    parser.add_argument("--broker-autosave", type=int, default=60, help="Mosquitto autosave_interval (s)")
    parser.add_argument("--probe-every", type=float, default=2.0, help="seconds between recovery probes")
    parser.add_argument("--normal-latency", type=float, default=1.0, help="a probe stored within this has recovered")
    parser.add_argument("--timeline", action="store_true", help="print every /healthz sample of the load")
    parser.add_argument("--receive-maximum", type=int, default=None, help="[mqtt] receive_maximum (default 20,000)")
    parser.add_argument("--lookahead", type=int, default=None, help="[ingest] lookahead_messages (default 10,000)")
    parser.add_argument(
        "--priority-lane", action="store_true", help="the hazard device on its own session ([mqtt] priority_devices)"
    )
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="hazwatch-overload-") as directory:
        root = Path(directory)
        broker = Mosquitto(root / "broker", autosave_interval_s=args.broker_autosave, sys_interval_s=1)
        broker.start()
        assert broker.process is not None
        broker_pid = broker.process.pid
        queue = BrokerQueue(broker.port)
        queue_stop = asyncio.Event()
        follower = asyncio.create_task(queue.follow(queue_stop))
        rules = root / "rules.yaml"
        rules.write_text(RULES, encoding="utf-8")
        # No paging: the bench roster has no SMS or voice provider, and "pages reach nobody" would make every
        # /healthz sample degraded for a reason that has nothing to do with load.
        ingest = "decode_workers = 0\n" + (f"lookahead_messages = {args.lookahead}\n" if args.lookahead else "")
        mqtt = f"receive_maximum = {args.receive_maximum}\n" if args.receive_maximum else ""
        if args.priority_lane:
            mqtt += f'priority_devices = ["{HAZARD_DEVICE}"]\n'
        config = f'[ingest]\n{ingest}[alarms]\nrule_files = ["{rules}"]\n[notify]\nenabled = false\n'
        service = ServiceProcess(root / "service", broker.port, "overload", config, mqtt_extra=mqtt)
        try:
            service.start()
            await service.wait_ready()
            assert service.process is not None
            pid = service.process.pid
            capacity, calibration, calibration_cpu = await sustainable_rate(
                service, broker, args.calibrate_rate, args.calibrate_seconds, args.calibrate_skip, args.connections
            )
            measured_s = args.calibrate_seconds - args.calibrate_skip
            print(f"capacity {capacity:.0f} msg/s stored with the generator running (service CPU "
                  f"{calibration_cpu:.1f} s over the {measured_s:.0f} s measured: "
                  f"{capacity * measured_s / max(calibration_cpu, 1e-9):.0f} msg per CPU second)")  # fmt: skip
            backlog_before, drain_cpu_before = stored_count(service.db_path), process_cpu_s(pid)
            drained, calibration_drain_s = await wait_drained(service.db_path, calibration.acknowledged)
            calibrated = stored_count(service.db_path)
            drain_cpu = process_cpu_s(pid) - drain_cpu_before
            # The same service with the generator stopped: if it stores far more per wall second, but not per CPU
            # second, the flood only took its CPU; if per CPU second too, the flood itself slows the service down.
            print(f"calibration backlog {'drained' if drained else 'NOT drained'} in {calibration_drain_s:.0f} s: "
                  f"{(calibrated - backlog_before) / max(calibration_drain_s, 1e-9):.0f} msg/s, service CPU "
                  f"{drain_cpu:.1f} s = {(calibrated - backlog_before) / max(drain_cpu, 1e-9):.0f} msg per CPU second; "
                  f"load average {os.getloadavg()}")  # fmt: skip
            rate = args.rate or args.factor * capacity
            print(f"driving {rate:.0f} msg/s for {args.seconds:.0f} s; load average {os.getloadavg()}", flush=True)
            cpu_before = {
                "service": process_cpu_s(pid),
                "broker": process_cpu_s(broker_pid),
                "bench": time.process_time(),
            }
            load_started_wall = time.time()
            load = Flood(broker.port, service.prefix, BULK_DEVICES, args.connections, name="load")
            await load.connect()
            samples: list[dict[str, Any]] = []
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_health(service, samples, stop))
            started = time.monotonic()
            publishing = asyncio.create_task(load.publish(rate, args.seconds))
            hazard_at: float | None = None
            hazard_key = ("", 0.0)
            alarm_latency: float | None = None
            rss_during: list[int] = []
            while not publishing.done():
                elapsed = time.monotonic() - started
                if hazard_at is None and elapsed >= args.seconds / 2:
                    hazard = NumberedPublisher(broker.port, service.prefix, time.time())
                    number = len(GAMMA_DEVICES) - 1  # message 9 is the hazard device
                    topic, payload, hazard_key = hazard.message(number, 5000.0)
                    one = await asyncio.create_subprocess_exec(
                        "mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t", topic, "-m", payload.decode()
                    )
                    await one.wait()
                    hazard_at = time.monotonic()
                if hazard_at is not None and alarm_latency is None and hazard_alarm_visible(service.db_path):
                    alarm_latency = time.monotonic() - hazard_at
                rss_during.append(rss_bytes(pid))
                await asyncio.sleep(0.5)
            published_s = await publishing
            load_ended = time.monotonic()
            stored_at_load_end = stored_count(service.db_path)
            probes = Probes(broker.port, service.prefix, service.db_path)
            probes_stop = asyncio.Event()
            prober = asyncio.create_task(probes.publish(args.probe_every, probes_stop))
            await load.close()
            expected = calibrated + load.acknowledged + 1
            last_count, last_growth = -1, time.monotonic()
            while (count := stored_count(service.db_path)) < expected + len(probes.stored):
                if count != last_count:
                    last_count, last_growth = count, time.monotonic()
                elif time.monotonic() - last_growth > 30:
                    break
                if hazard_at is not None and alarm_latency is None and hazard_alarm_visible(service.db_path):
                    alarm_latency = time.monotonic() - hazard_at
                rss_during.append(rss_bytes(pid))
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
            cpu_used = {
                "service": process_cpu_s(pid) - cpu_before["service"],
                "broker": process_cpu_s(broker_pid) - cpu_before["broker"],
                "bench": time.process_time() - cpu_before["bench"],
            }
            peak_rss = peak_rss_bytes(pid)
            broker_peak_rss = peak_rss_bytes(broker_pid)
            urgent_count = await metric_value(service, "hazwatch_ingest_urgent_messages_total")
            duplicates = await metric_value(service, "hazwatch_duplicate_readings_total")
            jumped = hazard_jump(service.db_path, hazard_key, load_started_wall) if hazard_at is not None else None
            service.terminate()
            logs = service.logs()
            reconnects = logs.count("lost or refused")
            write_failures = logs.count("database write failed")
            queue_stop.set()
            await follower
            sent = np.concatenate([calibration.sent_keys(), load.sent_keys()])
            lost, doubled, sent_twice = lost_and_doubled(sent, stored_keys(service.db_path))
            stored_total = stored_count(service.db_path)
        finally:
            if service.process is not None and service.process.poll() is None:
                service.kill()
            broker.stop()
    print(f"load average after: {os.getloadavg()}")
    during = [s for s in samples if s["t"] <= load_ended]
    degraded = [s for s in during if s["http_status"] != 200]
    after = [s for s in samples if s["t"] > load_ended + drained_s]
    offered = load.written / published_s
    achieved = (stored_at_load_end - calibrated) / published_s
    print(f"published (broker acknowledged) {load.acknowledged} of {load.written} written in {published_s:.1f} s = "
          f"{offered:.0f} msg/s = {offered / capacity:.2f}x capacity (asked {rate:.0f} = {rate / capacity:.2f}x; "
          f"{load.window_full_ticks} generator ticks limited by its window)")  # fmt: skip
    print(f"stored during the load {achieved:.0f} msg/s: offered / stored = {offered / max(achieved, 1e-9):.1f}")
    print(f"stored in all {stored_total} (calibration {calibration.acknowledged} + load {load.acknowledged} + hazard "
          f"1 + probes {len(probes.published)}); everything stored {drained_s:.0f} s after the load ended"
          f"{' (STALLED: nothing more stored for 30 s)' if stalled else ''}")  # fmt: skip
    print(f"lost {lost}, stored twice {doubled} (of {sent.size} generator messages; keys it sent twice: {sent_twice})")
    if lost or doubled:
        print(f"  MQTT connections lost: {reconnects}; failed database writes (retried): {write_failures}")
    print(f"service peak RSS {peak_rss / 2**20:.0f} MB (whole run); RSS during the load and drain: max "
          f"{max(rss_during) / 2**20:.0f} MB, last {rss_during[-1] / 2**20:.0f} MB; broker peak RSS "
          f"{broker_peak_rss / 2**20:.0f} MB")  # fmt: skip
    peak_queue = queue.peak(started, load_ended + drained_s)
    print(f"broker queue ($SYS store count): peak {peak_queue} messages, {queue.at(load_ended)} at the load's end, "
          f"{queue.at(load_ended + drained_s + 2)} after the drain")  # fmt: skip
    wall = time.monotonic() - started - 12.0
    print(
        f"CPU seconds from the load's start to the drain plus probes ({wall:.0f} s wall): "
        + ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu_used.items())
    )
    latency = "never" if alarm_latency is None else f"{alarm_latency:.1f} s"
    print(f"hazard reading published at {args.seconds / 2:.0f} s: alarm stored after {latency}")
    recovered = probes.recovered_after(load_ended, args.normal_latency)
    series = probes.latencies(load_ended)
    print(
        f"alarm latency recovered {'never' if recovered is None else f'{recovered:.0f} s'} after the load ended "
        f"(probe every {args.probe_every:g} s; recovered: every later probe stored within {args.normal_latency:g} s)"
    )
    stored_latencies = [latency for _, latency in series if latency is not None]
    worst = f"{max(stored_latencies, default=0.0):.1f} s"
    if len(stored_latencies) < len(series):
        worst += f" ({len(series) - len(stored_latencies)} probes never stored)"
    print(f"  worst probe latency after the load ended: {worst}")
    shown = series[:: max(1, len(series) // 20)]
    text = ", ".join(f"{sent:.0f}: {'not stored' if latency is None else f'{latency:.1f}'}" for sent, latency in shown)
    print(f"  probes (sent s after the load ended: latency s): {text}")
    print(f"urgent messages judged ahead of the backlog: {urgent_count}; readings dropped as seen before: {duplicates}")
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
    print(f"/healthz after the backlog drained: {[s['http_status'] for s in after][-5:]}")
    if args.timeline:
        for sample in samples:
            print(f"  {sample['t'] - started:6.1f} s {sample['http_status']} behind {sample.get('data_behind_s')} "
                  f"later {sample.get('data_later_than_usual_s')} waiting {sample.get('messages_waiting')} "
                  f"unacked {sample.get('unacknowledged_messages')}")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
