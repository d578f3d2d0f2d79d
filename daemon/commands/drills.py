"""``hazwatch record``, ``hazwatch simulate`` and ``hazwatch replay``: make recordings and run them as drills."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from daemon.chain.build import AlarmSetup
from daemon.clock import WallClock
from daemon.config import ServiceConfig, load_config
from daemon.drills.compare import comparison_rows, format_table, load_reports
from daemon.drills.recorder import record_broker, record_from_store
from daemon.drills.recording import RecordingWriter
from daemon.drills.replay import ReplayOptions, replay_recording
from daemon.drills.report import ReportContext, build_report
from daemon.drills.report_html import ReportMeta, render_html
from daemon.drills.report_pdf import print_pdf
from daemon.drills.scenario import SCENARIO_LIBRARY, load_scenario
from daemon.drills.simulate_output import publish_live, write_columnar, write_jsonl
from daemon.drills.simulator import Simulator
from daemon.errors import ConfigError
from daemon.ingest.broker_url import parse_broker
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
    """Add the ``record``, ``simulate``, ``replay`` and ``drill`` parsers."""
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
    replay.add_argument(
        "--batch-window",
        type=float,
        help="batch window in recording seconds (default: the live 20 ms, every message judged when live would "
        "have); coarser replays long recordings faster, with alarm and incident times up to one window late",
    )
    _report_options(replay)
    replay.set_defaults(handler=replay_command)

    drill = subparsers.add_parser("drill", help="run drills with people in the loop, compare drill runs")
    actions = drill.add_subparsers(dest="drill_action", required=True)
    start = actions.add_parser(
        "start", help="run a scenario or a recording as a drill against a service's database (the duty team acts "
        "on the drill view of its console)"
    )  # fmt: skip
    start.add_argument("source", help="recording (.jsonl / .hzc), scenario YAML, or a shipped scenario's name")
    start.add_argument("--speed", type=parse_speed, default=1.0, help="1 (default: people in the loop), 10, ... max")
    start.add_argument("--config", type=Path, help="service config (TOML)")
    start.add_argument("--site", type=Path, help="site file (default: the config's)")
    start.add_argument("--db", help="database URL of the running service (default: the config's)")
    start.add_argument("--report", type=Path, help="write the drill report here (JSON) and an HTML page beside it")
    _report_options(start)
    start.set_defaults(handler=drill_start_command)
    compare = actions.add_parser("compare", help="drill runs side by side (delays, acknowledgements, verdicts)")
    compare.add_argument("runs", type=int, nargs="+", help="drill run ids")
    compare.add_argument("--config", type=Path, help="service config (TOML)")
    compare.add_argument("--db", help="database URL (default: the config's)")
    compare.set_defaults(handler=drill_compare_command)


def _report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report-pdf", type=Path, help="also print the report to this PDF (headless Chromium)")
    parser.add_argument("--exercise", help="exercise name for the title block (default: the scenario's)")
    parser.add_argument("--organiser", help="organising unit for the title block")
    parser.add_argument("--participant", action="append", default=[], help="a participant (repeat); default: roster")
    parser.add_argument("--report-tz", help="time zone of the record, e.g. Asia/Shanghai (default: the roster's)")


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
        speed=args.speed,
        start=args.start,
        end=args.end,
        store_readings=False if args.no_store_readings else None,
        batch_window_s=args.batch_window,
    )
    report = asyncio.run(run_drill(args.file, config, site, options, args.report, _meta(args)))
    _summary(report, args)
    return 0


def _meta(args: argparse.Namespace) -> ReportMeta:
    return ReportMeta(
        exercise=args.exercise, organiser=args.organiser, participants=list(args.participant), timezone=args.report_tz
    )


def _summary(report: dict[str, Any], args: argparse.Namespace) -> None:
    sys.stdout.write(
        f"drill run {report['drill_run']}: {report['replay']['readings']:,} readings, {len(report['alarms'])} alarms, "
        f"{len(report['incidents'])} incidents, highest tier {report['highest_tier'] or 'none'}, "
        f"verdict {report['verdict']['overall']}\n"
    )
    if args.report_pdf is not None:
        if args.report is None:
            raise ConfigError(["--report-pdf needs --report (the PDF is printed from the HTML page)"])
        print_pdf(args.report.with_suffix(".html"), args.report_pdf)
        sys.stdout.write(f"{args.report_pdf}: PDF written\n")


def drill_start_command(args: argparse.Namespace) -> int:
    """Run a scenario (simulated first) or a recording as a drill into the service's database."""
    config = load_config(args.config)
    if args.db:
        config.database.url = args.db
    site = load_site(args.site or config.site_file)
    source = Path(args.source)
    with tempfile.TemporaryDirectory(prefix="hazwatch-drill-") as work:
        if source.suffix in (".jsonl", ".hzc") and source.exists():
            recording = source
        else:
            scenario = load_scenario(scenario_path(args.source))
            recording = Path(work) / f"{scenario.name}.hzc"
            write_columnar(Simulator(scenario, load_site(scenario.site_file)), recording)
        options = ReplayOptions(speed=args.speed, source_label=str(source))
        sys.stdout.write(
            f"drill from {source} at speed {'max' if args.speed is None else f'{args.speed:g}'}: act on the drill "
            "view of the duty console; every action is recorded against this drill run\n"
        )
        report = asyncio.run(run_drill(recording, config, site, options, args.report, _meta(args)))
    _summary(report, args)
    return 0


def drill_compare_command(args: argparse.Namespace) -> int:
    """Print drill runs side by side."""
    config = load_config(args.config)
    url = args.db or config.database.url

    async def load() -> list[dict[str, Any]]:
        engine = create_engine(url)
        try:
            await migrate(engine)
            return await load_reports(engine, args.runs)
        finally:
            await engine.dispose()

    sys.stdout.write(format_table(comparison_rows(asyncio.run(load()))))
    return 0


async def run_drill(
    path: Path,
    config: ServiceConfig,
    site: Site,
    options: ReplayOptions,
    report_path: Path | None,
    meta: ReportMeta | None = None,
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
        write_report(report_path, text, render_html(report, meta))
    return report


def write_report(path: Path, text: str, page: str) -> None:
    """Write the JSON report and the HTML page beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.with_suffix(".html").write_text(page, encoding="utf-8")
