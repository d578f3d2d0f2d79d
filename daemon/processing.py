"""Build the processing chain (detectors → rules → alarm book → plan) for a live run or a drill."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from daemon import checkpoint
from daemon.alarm_flow import AlarmFlow, FlowState
from daemon.clock import Clock
from daemon.config import AlarmConfig
from daemon.errors import ConfigError
from daemon.metrics import Metrics
from daemon.pipeline import Pipeline
from daemon.store import queries
from daemon.store.writer import StoreWriter
from detectors.thresholds import ThresholdDetector
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
            raise ConfigError([f"{i.file}:{i.line}: {i.field}: {i.message}" for i in exc.issues]) from exc
        return cls(rules, plan, roster)

    def fingerprint(self, table: SensorTable) -> str:
        """Identifies the configuration a checkpoint belongs to."""
        return checkpoint.fingerprint([table.site, *self.rules, self.plan, self.roster])


def fresh_state(table: SensorTable, setup: AlarmSetup, *, drill: bool) -> tuple[ThresholdDetector, FlowState]:
    """Detectors and engines with no history."""
    state = FlowState(
        rules=RuleEngine(setup.rules, table),
        book=AlarmBook(table, setup.rules),
        incidents=IncidentEngine(setup.plan, setup.roster, table, drill=drill),
    )
    return ThresholdDetector(table.thresholds), state


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
) -> Pipeline:
    """A pipeline resumed from the last checkpoint of this configuration (live), or fresh (drills)."""
    restored = await checkpoint.load(engine, checkpoint.LIVE, setup.fingerprint(table)) if resume else None
    detector, state = restored if restored is not None else fresh_state(table, setup, drill=drill)
    if restored is not None:
        log.info("resumed alarm state: %d alarms, %d incidents", len(state.book.alarms), len(state.incidents.incidents))
    ids = await queries.next_ids(engine)
    if resume:
        await _close_orphans(engine, state, writer, clock, drill=drill)
    flow = AlarmFlow(
        table,
        state,
        writer,
        metrics,
        next_alarm_row=ids["alarms"],
        next_incident_row=ids["incidents"],
        next_checklist_row=ids["checklist_items"],
    )
    return Pipeline(table, detector, flow, writer, metrics, clock, store_readings=store_readings)


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


def save(pipeline: Pipeline, setup: AlarmSetup, writer: StoreWriter, now: float) -> None:
    """Queue a checkpoint of the pipeline's state, committed together with all rows queued before it."""
    data = checkpoint.dumps((pipeline.detector, pipeline.flow.state))
    writer.save_checkpoint(checkpoint.LIVE, now, setup.fingerprint(pipeline.table), data)
