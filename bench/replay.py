"""Replay throughput: a simulated day of the demo site at 1 Hz per sensor, through the live processing chain.

Prints readings/s of the replay, the time needed only to read and decode the same file (the floor), their ratio,
and peak RSS at two file sizes (memory must stay flat as the file grows). Each measurement runs in its own
process so its peak RSS is its own.

Two kinds of replay are measured. Faithful (the default of ``hazwatch replay``): batches close on the live window
(20 ms) on the recording's clock, so every message is judged when live would have judged it; its cost is per
batch, and a 500-sensor park at 1 Hz makes about 15 batches a second. Windowed (``--batch-window``, here
``--window``): one batch per window, for long recordings where times up to one window late are acceptable.
Faithful replays at max speed run quiet stretches (no condition change, no timer due) as blocks
(``daemon.drills.block_replay``), with the same result as batch by batch; both are measured.
Figures are per CPU second of the replay in the child process, counted from after its imports (the wall time and the
load average are printed too, but on a shared machine only the CPU time means anything; the process's total, imports
included, is printed beside it). Usage: ``PYTHONPATH=. python bench/replay.py [--hours 24] [--window 60]
[--faithful-hours 0.05] [--faithful-only] [--blocks-only] [--no-leak] [--keep DIR]``. ``--faithful-only
--blocks-only --faithful-hours 24`` measures only the faithful columnar block replay of a whole simulated day (the
batch-by-batch reference of a day would take hours).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

TARGET_READINGS = 43_200_000  # a day of a 500-sensor park at 1 Hz
TARGET_SECONDS = 60.0  # issue 16: the day in under a minute


DEMO_SITE = Path(__file__).resolve().parents[1] / "daemon/sites/demo-park.yaml"
CACHE = Path(tempfile.gettempdir()) / "hazwatch-bench-cache"  # city recordings, simulated once (about 1.3 GB a day)


def scenario_yaml(hours: float, *, leak: bool = True, site_file: Path = DEMO_SITE) -> str:
    """A day at 1 Hz with a chlorine leak in the morning (``leak=False``: a quiet day)."""
    events = "" if leak else "events: []\n"
    text = f"""
name: bench-day
site_file: {site_file}
seed: 5
start: 2024-06-03T00:00:00+08:00
duration_s: {hours * 3600}
report_interval_s: 1
weather:
  - {{at_s: 0, wind_speed_m_s: 3.0, wind_from_deg: 185, stability: D, temperature_c: 24}}
events:
  - {{type: toxic_release, id: leak, gas: Cl2, at: {{north_m: 250, east_m: -650}}, rate_g_s: 350,
      start_s: 3600, duration_s: 1800}}
"""
    return text if leak else text[: text.index("events:")] + events


def child(args: list[str]) -> None:
    """One measurement in this process; prints a JSON line."""
    mode, path = args[0], Path(args[1])
    site_file = Path(args[5]) if len(args) > 5 else None
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    figures: dict[str, float] = {}
    if mode == "read-columnar":
        from daemon.drills.columnar import ColumnarReader

        count = 0
        with ColumnarReader(path) as reader:
            for chunk in reader:
                count += len(chunk.readings)
        figures["readings"] = count
    elif mode == "read-jsonl":
        from daemon.config import ServiceConfig
        from daemon.drills.recording import RecordingReader
        from daemon.ingest.senml import BatchBuilder, SenmlDecoder
        from daemon.site_file import load_site
        from rules.sensor_table import SensorTable

        table = SensorTable.build(load_site(site_file or ServiceConfig().site_file))
        decoder = SenmlDecoder(table, "hazwatch", 1 << 18, 300.0, 7 * 86400.0)
        builder = BatchBuilder()
        count = 0
        with RecordingReader(path) as reader:
            for i, message in enumerate(reader):
                decoder.decode(message.topic, message.payload, message.received, builder)
                if i % 2000 == 0:
                    count += len(builder.build())
        count += len(builder.build())
        figures["readings"] = count
    else:
        from daemon.clock import WallClock
        from daemon.config import ServiceConfig
        from daemon.drills.replay import ReplayOptions, replay_recording
        from daemon.site_file import load_site

        config = ServiceConfig()
        config.database.url = f"sqlite:///{args[2]}"
        if site_file is not None:
            config.site_file = site_file
        store = mode == "replay-store"
        window = float(args[3]) if len(args) > 3 and args[3] not in ("live", "") else None
        blocks = not (len(args) > 4 and args[4] == "batches")
        options = ReplayOptions(store_readings=store, batch_window_s=window, blocks=blocks)
        started, cpu_started = time.perf_counter(), _cpu_seconds()  # the replay's own figures, imports aside
        result = asyncio.run(replay_recording(path, config, load_site(config.site_file), options, wall=WallClock()))
        figures["readings"] = result.readings
    figures["seconds"] = time.perf_counter() - started
    figures["process_cpu_seconds"] = _cpu_seconds()
    figures["cpu_seconds"] = figures["process_cpu_seconds"] - cpu_started  # the figure to trust on a loaded machine
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["load_average"] = os.getloadavg()[0]
    print(json.dumps(figures))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(*args: str, site_file: Path | None = None) -> dict[str, float]:
    """Run one child measurement (on ``site_file``'s sensors when given, else the configured site's)."""
    padded = [*args, *[""] * (5 - len(args)), str(site_file)] if site_file is not None else list(args)
    out = subprocess.run([sys.executable, __file__, "--child", *padded], check=True, capture_output=True, text=True)
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def city_site_file(n_sensors: int) -> Path:
    """The city site of ``n_sensors`` (daemon/sites/city.py), written to the cache once."""
    from daemon.sites.city import city_site

    path = CACHE / f"city-{n_sensors}.yaml"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(city_site(n_sensors), allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def simulate(hours: float, out: Path, *, leak: bool = True, site_file: Path = DEMO_SITE) -> None:
    """Write the bench scenario (columnar for .hzc, else JSON Lines)."""
    from daemon.drills.scenario import load_scenario
    from daemon.drills.simulate_output import write_columnar, write_jsonl
    from daemon.drills.simulator import Simulator
    from daemon.site_file import load_site

    scenario_file = out.with_suffix(".yaml")
    scenario_file.write_text(scenario_yaml(hours, leak=leak, site_file=site_file), encoding="utf-8")
    scenario = load_scenario(scenario_file)
    simulator = Simulator(scenario, load_site(scenario.site_file))
    started = time.perf_counter()
    (write_columnar if out.suffix == ".hzc" else write_jsonl)(simulator, out)
    print(
        f"simulated {hours:g} h -> {out.name}: {out.stat().st_size / 1e6:,.0f} MB "
        f"in {time.perf_counter() - started:.1f} s"
    )


def main() -> None:
    """Run every measurement and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--jsonl-hours", type=float, default=1.0)
    parser.add_argument("--store-hours", type=float, default=1.0)
    parser.add_argument("--window", type=float, default=60.0, help="batch window of the windowed replays, s")
    parser.add_argument("--faithful-hours", type=float, default=0.05, help="length of the faithful replays")
    parser.add_argument(
        "--no-leak", action="store_true", help="a quiet recording (no chlorine leak, so no release assessment runs)"
    )
    parser.add_argument("--keep", type=Path)
    parser.add_argument("--faithful-only", action="store_true", help="only the faithful replays (no day to simulate)")
    parser.add_argument(
        "--blocks-only", action="store_true", help="of the faithful replays, only the columnar one in blocks"
    )
    parser.add_argument(
        "--sensors",
        type=int,
        help="replay a city network of this many sensors (daemon/sites/city.py: the demo park repeated as parks "
        "across a city) instead of the demo park; 500 at 1 Hz for 24 h is the 43.2 M-reading day. Its faithful "
        f"recording is simulated once and kept in {CACHE}",
    )
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="hazwatch-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    full, half = work / "day.hzc", work / "half.hzc"
    lines, stored = work / "hour.jsonl", work / "store.hzc"
    faithful_columnar, faithful_lines = work / "faithful.hzc", work / "faithful.jsonl"
    leak = not args.no_leak
    site_file = DEMO_SITE if args.sensors is None else city_site_file(args.sensors)
    on_site: dict[str, Any] = {} if args.sensors is None else {"site_file": site_file}
    if args.sensors is None:
        simulate(args.faithful_hours, faithful_columnar, leak=leak)
    else:  # a city day is simulated once and kept (it takes minutes and over a gigabyte)
        faithful_columnar = CACHE / f"{site_file.stem}-{args.faithful_hours:g}h-{'leak' if leak else 'quiet'}.hzc"
        if not faithful_columnar.exists():
            partial = faithful_columnar.with_name(f"partial-{faithful_columnar.name}")
            simulate(args.faithful_hours, partial, leak=leak, site_file=site_file)
            partial.replace(faithful_columnar)
    if not args.blocks_only:
        simulate(args.faithful_hours, faithful_lines, leak=leak, site_file=site_file)
    window = f"{args.window:g}"
    rows = []
    if not args.faithful_only:
        simulate(args.hours, full, leak=leak, site_file=site_file)
        simulate(args.hours / 2, half, leak=leak, site_file=site_file)
        simulate(args.jsonl_hours, lines, leak=leak, site_file=site_file)
        simulate(args.store_hours, stored, leak=leak, site_file=site_file)
        for label, path in ((f"columnar, full, {window} s window", full), (f"columnar, half, {window} s window", half)):
            read = measure("read-columnar", str(path), **on_site)
            replay = measure("replay", str(path), str(work / f"{path.stem}.db"), window, **on_site)
            rows.append((label, read, replay))
        read = measure("read-jsonl", str(lines), **on_site)
        replay = measure("replay", str(lines), str(work / "jsonl.db"), window, **on_site)
        rows.append((f"json lines, {window} s window", read, replay))
        read = measure("read-columnar", str(stored), **on_site)
        replay = measure("replay-store", str(stored), str(work / "stored.db"), window, **on_site)
        rows.append((f"columnar + store all, {window} s", read, replay))
    faithful = [
        ("columnar, faithful, batch by batch", faithful_columnar, "read-columnar", "batches"),
        ("json lines, faithful, batch by batch", faithful_lines, "read-jsonl", "batches"),
        ("json lines, faithful, blocks", faithful_lines, "read-jsonl", "blocks"),
        ("columnar, faithful, blocks", faithful_columnar, "read-columnar", "blocks"),
    ]
    for label, path, reader, how in faithful[-1:] if args.blocks_only else faithful:
        read = measure(reader, str(path), **on_site)
        replay = measure("replay", str(path), str(work / f"{path.stem}-{how}.db"), "live", how, **on_site)
        rows.append((label, read, replay))
    print()
    print(
        f"{'form':34} {'readings':>12} {'read+decode s':>14} {'replay s':>9} {'CPU s':>8} {'process CPU s':>14} "
        f"{'readings/CPU-s':>15} {'ratio':>6} {'peak RSS MB':>12} {'load':>5}"
    )
    for label, read, replay in rows:
        rate = replay["readings"] / replay["cpu_seconds"]
        print(
            f"{label:34} {replay['readings']:>12,.0f} {read['seconds']:>14.2f} {replay['seconds']:>9.2f} "
            f"{replay['cpu_seconds']:>8.2f} {replay['process_cpu_seconds']:>14.2f} {rate:>15,.0f} "
            f"{replay['cpu_seconds'] / read['cpu_seconds']:>6.1f} {replay['peak_rss_mb']:>12.0f} "
            f"{replay['load_average']:>5.1f}"
        )
    print()
    if not args.faithful_only:
        best = rows[0][2]
        rate = best["readings"] / best["cpu_seconds"]
        print(
            f"extrapolation, {window} s window: {TARGET_READINGS:,} readings (500 sensors x 86,400 s) / {rate:,.0f} "
            f"readings per CPU-s = {TARGET_READINGS / rate:,.0f} CPU-s (target {TARGET_SECONDS:.0f} s)"
        )
    measured = (
        [("blocks", rows[-1][2])] if args.blocks_only else [("batch by batch", rows[-4][2]), ("blocks", rows[-1][2])]
    )
    for label, figures in measured:
        rate = figures["readings"] / figures["cpu_seconds"]
        print(
            f"extrapolation, faithful columnar, {label}: {TARGET_READINGS:,} readings / {rate:,.0f} readings per "
            f"CPU-s = {TARGET_READINGS / rate:,.0f} CPU-s (target {TARGET_SECONDS:.0f} s)"
        )
    blocks = rows[-1][2]
    if args.sensors is not None:
        print(
            f"measured, faithful columnar blocks, {args.sensors} sensors x {args.faithful_hours:g} h at 1 Hz: "
            f"{blocks['readings']:,.0f} readings in {blocks['cpu_seconds']:.1f} CPU-s ({blocks['seconds']:.1f} s wall, "
            f"load {blocks['load_average']:.1f}; target {TARGET_SECONDS:.0f} s for {TARGET_READINGS:,})"
        )
    print(f"files kept in {work}" if args.keep else f"scratch dir {work} (delete when done)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
