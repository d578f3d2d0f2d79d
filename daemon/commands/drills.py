"""``hazwatch record``, ``hazwatch simulate`` and ``hazwatch replay``: make recordings and run them as drills."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from daemon.broker_url import parse_broker
from daemon.clock import WallClock
from daemon.config import ServiceConfig, load_config
from daemon.drills.recorder import record_broker, record_from_store
from daemon.drills.recording import RecordingWriter
from daemon.drills.replay import ReplayOptions, replay_recording
from daemon.drills.report import ReportContext, build_report
from daemon.drills.report_html import render_html
from daemon.drills.scenario import SCENARIO_LIBRARY, load_scenario
from daemon.drills.simulate_output import publish_live, write_columnar, write_jsonl
from daemon.drills.simulator import Simulator
from daemon.errors import ConfigError
from daemon.processing import AlarmSetup
from daemon.site_file import load_site
from daemon.store.engine import create_engine, migrate
from daemon.store.schema import drill_runs
from rules.sensor_table import SensorTable
from rules.site import Site

log = logging.getLogger(__name__)


def parse_time(value: str) -> float:
    """Unix seconds or an ISO 8601 time with zone (``2024-06-03T09:00:00+08:00``)."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r}: expected unix seconds or ISO 8601 time") from exc
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r}: give a time zone, e.g. +08:00 or Z")
    return parsed.timestamp()


def parse_speed(value: str) -> float | None:
    """``max`` or a positive factor."""
    if value == "max":
        return None
    try:
        speed = float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a number or 'max'") from exc
    if speed <= 0:
        raise argparse.ArgumentTypeError("speed must be positive")
    return speed


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``record``, ``simulate`` and ``replay`` parsers."""
    record = subparsers.add_parser("record", help="record what arrives on the broker (or what the store holds)")
    record.add_argument("--out", type=Path, required=True, help="recording file to write (JSON Lines)")
    record.add_argument("--config", type=Path, help="service config (TOML)")
    record.add_argument("--broker", help="mqtt://HOST[:PORT] (default: the config's broker)")
    record.add_argument("--topic", help="topic filter (default <prefix>/#)")
    record.add_argument("--duration", type=float, help="seconds to record (default: until Ctrl-C)")
    record.add_argument("--from-db", action="store_true", help="rebuild the messages from stored readings")
    record.add_argument("--since", type=parse_time, help="with --from-db: first time (unix s or ISO 8601)")
    record.add_argument("--until", type=parse_time, help="with --from-db: end time (exclusive)")
    record.add_argument("--db", help="with --from-db: database URL (default: the config's)")
    record.add_argument("--site", type=Path, help="site file (default: the config's)")
    record.set_defaults(handler=record_command)

    simulate = subparsers.add_parser("simulate", help="generate a recording from a scenario (or publish it live)")
    simulate.add_argument(
        "scenario",
        help="scenario YAML, or the name of a shipped one: "
        + ", ".join(sorted(p.stem for p in SCENARIO_LIBRARY.glob("*.yaml"))),
    )
    target = simulate.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, help="recording to write (.hzc: columnar, anything else: JSON Lines)")
    target.add_argument("--broker", help="publish live at real speed to mqtt://HOST[:PORT]")
    simulate.add_argument("--duration", type=float, help="shorten the scenario to this many seconds")
    simulate.set_defaults(handler=simulate_command)

    replay = subparsers.add_parser("replay", help="replay a recording through the service as a drill")
    replay.add_argument("file", type=Path, help="recording (JSON Lines or columnar .hzc)")
    replay.add_argument("--speed", type=parse_speed, default=None, help="1, 10, 60, ... or max (default max)")
    replay.add_argument("--config", type=Path, help="service config (TOML)")
    replay.add_argument("--site", type=Path, help="site file (default: the config's)")
    replay.add_argument("--db", help="database URL (default: the config's)")
    replay.add_argument("--report", type=Path, help="write the drill report here (JSON) and an HTML page beside it")
    replay.add_argument("--from", dest="start", type=parse_time, help="start at this recording time")
    replay.add_argument("--to", dest="end", type=parse_time, help="stop at this recording time")
    replay.add_argument("--no-store-readings", action="store_true", help="do not store every reading (faster)")
    replay.set_defaults(handler=replay_command)


def scenario_path(name: str) -> Path:
    """A scenario file path, or a shipped scenario by name."""
    path = Path(name)
    if path.exists():
        return path
    shipped = SCENARIO_LIBRARY / f"{name}.yaml"
    if shipped.exists():
        return shipped
    raise ConfigError([f"{name}: no such scenario file or shipped scenario"])


def simulate_command(args: argparse.Namespace) -> int:
    """Generate the scenario."""
    scenario = load_scenario(scenario_path(args.scenario))
    if args.duration is not None:
        scenario = scenario.model_copy(update={"duration_s": min(args.duration, scenario.duration_s)})
    simulator = Simulator(scenario, load_site(scenario.site_file))
    if args.broker:
        sent = asyncio.run(publish_live(simulator, parse_broker(args.broker), WallClock(), "hazwatch-simulator"))
        sys.stdout.write(f"published {sent} messages\n")
        return 0
    out: Path = args.out
    if out.suffix == ".hzc":
        sys.stdout.write(f"{out}: {write_columnar(simulator, out):,} readings\n")
    else:
        sys.stdout.write(f"{out}: {write_jsonl(simulator, out):,} messages\n")
    return 0


def record_command(args: argparse.Namespace) -> int:
    """Record from the broker or the store."""
    config = load_config(args.config)
    site = load_site(args.site or config.site_file)
    with RecordingWriter(args.out, "db" if args.from_db else "mqtt", site=site.site) as writer:
        if args.from_db:
            if args.since is None or args.until is None:
                raise ConfigError(["record --from-db needs --since and --until"])
            count = asyncio.run(_from_db(args.db or config.database.url, site, config.mqtt.topic_prefix, args, writer))
        else:
            target = parse_broker(args.broker or config.mqtt.broker)
            topic = args.topic or f"{config.mqtt.topic_prefix}/#"
            try:
                count = asyncio.run(
                    record_broker(
                        target, topic, writer, WallClock(), duration_s=args.duration, client_id="hazwatch-recorder"
                    )
                )
            except KeyboardInterrupt:
                count = writer.messages
    sys.stdout.write(f"{args.out}: {count} messages\n")
    return 0


async def _from_db(url: str, site: Site, prefix: str, args: argparse.Namespace, writer: RecordingWriter) -> int:
    engine = create_engine(url)
    try:
        await migrate(engine)
        return await record_from_store(engine, SensorTable.build(site), prefix, args.since, args.until, writer)
    finally:
        await engine.dispose()


def replay_command(args: argparse.Namespace) -> int:
    """Replay as a drill and write the report."""
    config = load_config(args.config)
    if args.db:
        config.database.url = args.db
    site = load_site(args.site or config.site_file)
    options = ReplayOptions(
        speed=args.speed, start=args.start, end=args.end, store_readings=False if args.no_store_readings else None
    )
    report = asyncio.run(run_drill(args.file, config, site, options, args.report))
    sys.stdout.write(
        f"drill run {report['drill_run']}: {report['replay']['readings']:,} readings, {len(report['alarms'])} alarms, "
        f"{len(report['incidents'])} incidents, highest tier {report['highest_tier'] or 'none'}\n"
    )
    return 0


async def run_drill(
    path: Path, config: ServiceConfig, site: Site, options: ReplayOptions, report_path: Path | None
) -> dict[str, Any]:
    """Replay, build the report, store it on the drill run and write it out."""
    result = await replay_recording(path, config, site, options, wall=WallClock(), progress_stream=sys.stderr)
    engine = create_engine(config.database.url)
    try:
        table = SensorTable.build(site)
        context = ReportContext(AlarmSetup.load(config.alarms).roster, table)
        report = await build_report(engine, result, {s.id: s.kind.value for s in table.sensors}, context)
        text = json.dumps(report, indent=1, ensure_ascii=False, default=str)
        async with engine.begin() as connection:
            await connection.execute(drill_runs.update().where(drill_runs.c.id == result.run_id).values(report=text))
    finally:
        await engine.dispose()
    if report_path is not None:
        write_report(report_path, text, render_html(report))
    return report


def write_report(path: Path, text: str, page: str) -> None:
    """Write the JSON report and the HTML page beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.with_suffix(".html").write_text(page, encoding="utf-8")
