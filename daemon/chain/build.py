"""Build the processing chain (detectors → rules → alarm book → plan) for a live run or a drill."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.assessment.runner import AssessmentRunner
from daemon.chain import checkpoint
from daemon.chain.alarm_chain import AlarmChain
from daemon.chain.flow_state import FlowState
from daemon.chain.pipeline import AlarmFlow, Pipeline
from daemon.chain.recorder import ChangeRecorder, FlowRowIds
from daemon.clock import Clock
from daemon.config import AlarmConfig, ServiceConfig
from daemon.errors import ConfigError
from daemon.ingest.decode_pool import DecodePool, DecoderSpec
from daemon.ingest.intake import Intake
from daemon.ingest.priority import Prescreen
from daemon.ingest.quarantine_budget import QuarantineBudget
from daemon.metrics.instruments import Metrics
from daemon.store import queries
from daemon.store.row_ids import IdRange, RowIds
from daemon.store.writer import StoreWriter
from detectors.config import CoreConfig
from detectors.core import DetectionCore
from plans.engine import IncidentEngine
from plans.loading import load_plan, load_roster
from plans.model import Plan
from plans.roster import Roster
from rules.book import AlarmBook
from rules.engine import RuleEngine
from rules.loading import load_default_rules, load_rules
from rules.model import Rule
from rules.sensor_table import SensorTable
from rules.yaml_source import ConfigFileError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlarmSetup:
    """The validated rules, plan and roster a run uses."""

    rules: list[Rule]
    plan: Plan
    roster: Roster

    @classmethod
    def load(cls, config: AlarmConfig) -> AlarmSetup:
        """Load from the configured files, or the shipped defaults."""
        try:
            rules = load_rules(config.rule_files) if config.rule_files else load_default_rules()
            plan = load_plan(config.plan_file) if config.plan_file else load_plan()
            roster = load_roster(config.roster_file) if config.roster_file else load_roster()
        except ConfigFileError as exc:
            raise ConfigError.from_issues(exc.issues) from exc
        return cls(rules, plan, roster)

    def checkpoint_configuration(self, table: SensorTable, core: CoreConfig) -> checkpoint.Configuration:
        """What a checkpoint belongs to and names instead of copying (once per configuration: it walks the site)."""
        return checkpoint.Configuration([table.site, *self.rules, self.plan, self.roster], [table, core, self.rules])


def fresh_state(
    table: SensorTable, setup: AlarmSetup, *, drill: bool, core: CoreConfig | None = None
) -> tuple[DetectionCore, FlowState]:
    """Detectors (on ``core``, default: the table's) and engines with no history."""
    state = FlowState(
        rules=RuleEngine(setup.rules, table),
        book=AlarmBook(table, setup.rules),
        incidents=IncidentEngine(setup.plan, setup.roster, table, drill=drill),
    )
    return DetectionCore(core or table.core_config()), state


async def build_pipeline(
    engine: AsyncEngine,
    table: SensorTable,
    setup: AlarmSetup,
    writer: StoreWriter,
    metrics: Metrics,
    clock: Clock,
    *,
    drill: bool,
    store_readings: bool = True,
    resume: bool = True,
    id_range: IdRange | None = None,
    page_key_prefix: str = "",
) -> Pipeline:
    """A pipeline resumed from the last checkpoint of this configuration (live), or fresh (drills).

    New alarm, incident and checklist rows are numbered in ``id_range`` (default: the live range).
    """
    core = table.core_config()
    configuration = setup.checkpoint_configuration(table, core) if resume else None
    restored = await checkpoint.load(engine, checkpoint.LIVE, configuration) if configuration is not None else None
    detector, state = restored if restored is not None else fresh_state(table, setup, drill=drill, core=core)
    if restored is not None:
        log.info("resumed alarm state: %d alarms, %d incidents", len(state.book.alarms), len(state.incidents.incidents))
    id_range = id_range or IdRange.live()
    ids = await queries.next_ids(engine, id_range)
    if resume:
        await _close_orphans(engine, state, writer, clock, drill=drill)
    row_ids = FlowRowIds(
        alarms=RowIds("alarms", ids["alarms"], id_range),
        incidents=RowIds("incidents", ids["incidents"], id_range),
        checklist_items=RowIds("checklist_items", ids["checklist_items"], id_range),
    )
    recorder = ChangeRecorder(table, state, writer, metrics, row_ids=row_ids, page_key_prefix=page_key_prefix)
    flow = AlarmFlow(AlarmChain(table, state), recorder)
    return Pipeline(table, detector, flow, writer, metrics, store_readings=store_readings)


async def _close_orphans(
    engine: AsyncEngine, state: FlowState, writer: StoreWriter, clock: Clock, *, drill: bool
) -> None:
    """End alarm episodes the restored state does not know (rows written after the last checkpoint of a crash)."""
    known = {episode.row_id for episode in state.episodes.values()}
    now = clock.now()
    for row in await queries.open_alarm_rows(engine, drill=drill):
        if row["id"] in known:
            continue
        log.warning("closing alarm row %s (%s): its state was lost in an unclean stop", row["id"], row["alarm_key"])
        writer.update_alarm(row["id"], {"state": "normal", "updated_at": now})
        writer.add_alarm_event(
            {
                "alarm_id": row["id"],
                "time": now,
                "from_state": row["state"],
                "to_state": "normal",
                "actor": "system",
                "reason": "closed at restart: not in the last saved state (unclean stop); raised again if still active",
            }
        )


def reload_rules(pipeline: Pipeline, old: AlarmSetup, new: AlarmSetup, now: float) -> None:
    """Put new rules, plan and roster in force without losing the state of alarms that still exist.

    Alarms whose rule is gone end (their row is closed with the reason); detectors keep their state;
    open incidents continue under the new plan.
    """
    dropped = pipeline.flow.reload(new.rules, new.plan, new.roster, now)
    log.info(
        "reloaded %d rules (%d alarms kept, %d ended), plan %s, roster of %d people",
        len(new.rules), len(pipeline.flow.state.book.alarms), len(dropped), new.plan.plan, len(new.roster.people),
    )  # fmt: skip


def _decode_pool(spec: DecoderSpec, workers: int) -> DecodePool | None:
    """Worker processes for big batches, or None: decoding in place when the platform cannot start them."""
    if not workers:
        return None
    try:
        return DecodePool(spec, workers)
    except (OSError, ImportError, ValueError) as exc:  # e.g. no /dev/shm for multiprocessing's semaphores
        log.warning("cannot start decode workers (%s): every batch is decoded in the service process", exc)
        return None


def build_intake(
    config: ServiceConfig,
    pipeline: Pipeline,
    writer: StoreWriter,
    metrics: Metrics,
    clock: Clock,
    *,
    batch_max_delay_s: float | None = None,
    live: bool = True,
    rules: Sequence[Rule] | None = None,
) -> Intake:
    """The codec and batching in front of a pipeline, as configured (live runs and drills alike).

    ``live=False`` (replays): fixed batch windows and decoding in place, so a replay's batches go through in
    exactly the same way every time (and no look-ahead: a replay is never behind its own clock).
    ``rules``: live runs pre-screen the look-ahead for urgent messages against these rules' levels.
    """
    spec = DecoderSpec(
        pipeline.table.site,
        config.mqtt.topic_prefix,
        config.ingest.max_payload_bytes,
        config.ingest.max_future_skew_s,
        config.ingest.max_past_age_s,
    )
    workers = config.ingest.decode_workers if live else 0
    lookahead = None
    prescreen = None
    if live:
        # Half the receive window: the other half covers messages judged but not yet committed and acknowledged.
        lookahead = min(config.ingest.lookahead_messages, max(1, config.mqtt.receive_maximum // 2))
        prescreen = Prescreen(spec.build(pipeline.table), pipeline.table, config.mqtt.topic_prefix)
        prescreen.update_levels(rules or (), pipeline.detector.config)
    return Intake(
        spec.build(pipeline.table),
        pipeline,
        writer,
        metrics,
        clock,
        batch_max_messages=config.ingest.batch_max_messages,
        batch_max_delay_s=batch_max_delay_s or config.ingest.batch_max_delay_s,
        batch_max_delay_late_s=config.ingest.batch_max_delay_late_s if live else None,
        quarantine_log_interval_s=config.ingest.quarantine_log_interval_s,
        pool=_decode_pool(spec, workers),
        offload_min_messages=config.ingest.decode_offload_min_messages,
        quarantine_budget=QuarantineBudget(
            config.ingest.quarantine_max_payload_bytes, config.ingest.quarantine_max_bytes_per_day
        ),
        lookahead_messages=lookahead,
        prescreen=prescreen,
        lateness_rise_s=config.ingest.behind_floor_rise_s,
    )


@dataclass(frozen=True, slots=True)
class DrillChain:
    """A drill's processing chain; the caller runs ``writer.run()`` as a task."""

    writer: StoreWriter
    pipeline: Pipeline
    intake: Intake
    setup: AlarmSetup
    assessment: AssessmentRunner | None = None  # the live release assessment, run on the recording's clock


async def build_drill_chain(
    config: ServiceConfig,
    table: SensorTable,
    engine: AsyncEngine,
    metrics: Metrics,
    clock: Clock,
    *,
    run_id: int,
    store_readings: bool | None = None,
) -> DrillChain:
    """The live chain with fresh state, nothing resumed from a checkpoint, every row it writes marked ``drill``
    and tagged with ``run_id``; the rows it numbers itself take the run's own id range, apart from live ones."""
    setup = AlarmSetup.load(config.alarms)
    writer = StoreWriter(engine, [s.id for s in table.sensors], metrics, drill=True, drill_run_id=run_id)
    keep = config.database.store_readings if store_readings is None else store_readings
    pipeline = await build_pipeline(
        engine,
        table,
        setup,
        writer,
        metrics,
        clock,
        drill=True,
        store_readings=keep,
        resume=False,
        id_range=IdRange.drill_run(run_id),
        page_key_prefix=f"drill-run-{run_id}/",
    )
    # The live batch window, on the recording's clock: the replayer closes each batch when live would have.
    intake = build_intake(config, pipeline, writer, metrics, clock, live=False)
    # Device status and last wills reach the detectors as they do live (``Service.start``).
    intake.on_status(lambda status: pipeline.device_status(status.device, status.online, status.time))
    assessment = AssessmentRunner(table, pipeline.flow)
    pipeline.batch_listeners.append(assessment.on_batch)
    return DrillChain(writer, pipeline, intake, setup, assessment)
