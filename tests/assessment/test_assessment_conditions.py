"""The assessment raises its plan conditions while they hold and clears them after, also across a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from shapely.geometry import Polygon

from daemon.assessment.runner import AEGL2_RESIDENTIAL, Assessment, AssessmentRunner
from daemon.assessment.threat_zones import ReceptorImpact
from daemon.assessment.triggers import check_triggers
from daemon.chain.build import AlarmSetup, build_pipeline
from daemon.chain.pipeline import Pipeline
from daemon.clock import ManualClock
from daemon.config import ServiceConfig
from daemon.metrics.instruments import Metrics
from daemon.store.engine import create_engine, migrate
from daemon.store.writer import StoreWriter
from detectors.source_estimation import EstimateStatus, Hypothesis, SourceEstimate
from rules.sensor_table import SensorTable
from rules.site import Site

NOW = 1_800_000_000.0


@pytest.fixture
async def pipeline(sqlite_url: str, demo_site: Site) -> AsyncIterator[Pipeline]:
    """A live pipeline on a real SQLite file with its writer running."""
    table = SensorTable.build(demo_site)
    engine = create_engine(sqlite_url)
    metrics = Metrics(CollectorRegistry())
    try:
        await migrate(engine)
        writer = StoreWriter(engine, [s.id for s in table.sensors], metrics)
        task = asyncio.create_task(writer.run())
        setup = AlarmSetup.load(ServiceConfig().alarms)
        yield await build_pipeline(engine, table, setup, writer, metrics, ManualClock(NOW), drill=False)
        writer.close()
        await task
    finally:
        await engine.dispose()


def fake_assessment(
    runner: AssessmentRunner, residential_zone: str | None, probability: float | None = None
) -> Assessment:
    """A Cl2 assessment whose only receptor, a residential one, is in ``residential_zone`` with ``probability``
    (0.9 when in a zone, 0.01 when not, unless given)."""
    sensors = tuple(i for i, s in enumerate(runner.table.sensors) if s.substance == "Cl2")
    empty = np.zeros(0)
    rates = np.array([50.0, 100.0, 200.0])
    place = Hypothesis("cl2-liquefaction", 0.0, 0.0, 2.0, 1.0, rates, np.array([0.25, 0.5, 0.25]), NOW - 600)
    estimate = SourceEstimate(
        EstimateStatus.LOCATED, "test", NOW, (), 0.0, 0.0, 0.0, "cl2-liquefaction", 100.0, (50.0, 200.0),
        NOW - 600, (NOW - 900, NOW - 300), ("cl2-liquefaction",), empty, empty, hypotheses=(place,),
    )  # fmt: skip
    p = probability if probability is not None else (0.9 if residential_zone else 0.01)
    impact = ReceptorImpact(
        "homes", "Homes", "residential", 500, residential_zone, residential_zone,
        {residential_zone: 200} if residential_zone else {}, 3.0, 3.0, 0.6, "shelter in place", "test",
        {"AEGL-3": p / 2, "AEGL-2": p},
    )  # fmt: skip
    triggers = check_triggers(estimate, (impact,), 0.5)
    return Assessment("Cl2", NOW, estimate, None, (), {}, {}, Polygon(), (impact,), sensors, 0.0, triggers=triggers)


def test_condition_raised_then_cleared(pipeline: Pipeline) -> None:
    """AEGL-2 at homes raises the condition (and its alarm); when the zone no longer reaches them it clears."""
    runner = AssessmentRunner(pipeline.table, pipeline.flow)
    runner.assessments["Cl2"] = fake_assessment(runner, "AEGL-2")
    runner._update_conditions(NOW, ["Cl2"])
    on = [key for key in pipeline.flow.state.conditions_on if key[0] == AEGL2_RESIDENTIAL]
    assert len(on) == 1
    assert pipeline.flow.state.conditions_on[on[0]] == 500.0  # people in the receptors reached
    runner.assessments["Cl2"] = fake_assessment(runner, None)
    runner._update_conditions(NOW + 60, ["Cl2"])
    assert not [key for key in pipeline.flow.state.conditions_on if key[0] == AEGL2_RESIDENTIAL]


def test_restored_condition_is_cleared_by_a_new_runner(pipeline: Pipeline) -> None:
    """After a restart the checkpointed condition is taken over and cleared once the gas alarms are gone."""
    first = AssessmentRunner(pipeline.table, pipeline.flow)
    first.assessments["Cl2"] = fake_assessment(first, "AEGL-3")
    first._update_conditions(NOW, ["Cl2"])
    assert any(key[0] == AEGL2_RESIDENTIAL for key in pipeline.flow.state.conditions_on)
    second = AssessmentRunner(pipeline.table, pipeline.flow)  # a restarted service, state from the checkpoint
    second.tick(NOW + 60)  # no gas alarm on: nothing to assess, so the condition no longer holds
    assert not any(key[0] == AEGL2_RESIDENTIAL for key in pipeline.flow.state.conditions_on)


def test_condition_needs_the_stated_probability(pipeline: Pipeline) -> None:
    """A zone that reaches the homes with only 30 % probability raises nothing, and the check says why."""
    runner = AssessmentRunner(pipeline.table, pipeline.flow)
    runner.assessments["Cl2"] = fake_assessment(runner, "AEGL-2", probability=0.3)
    runner._update_conditions(NOW, ["Cl2"])
    assert not [key for key in pipeline.flow.state.conditions_on if key[0] == AEGL2_RESIDENTIAL]
    check = runner.assessments["Cl2"].triggers[AEGL2_RESIDENTIAL]
    assert not check.holds
    assert check.reason.startswith("not raised")
    assert "30%" in check.reason
    assert "50%" in check.reason


def test_the_timeline_says_why_the_assessment_trigger_fired(pipeline: Pipeline) -> None:
    """When the AEGL-2-at-homes condition opens an incident through the plan trigger, the incident's timeline says
    why it holds: the trigger, the receptor and its probability, and the source, referring to the alarm."""
    runner = AssessmentRunner(pipeline.table, pipeline.flow)
    runner.assessments["Cl2"] = fake_assessment(runner, "AEGL-2")
    runner._update_conditions(NOW, ["Cl2"])
    incident = pipeline.flow.state.incidents.current()
    assert incident is not None
    assert "assessment-aegl2-residential" in incident.trigger_ids
    [line] = [e for e in incident.timeline if e.kind == "trigger_reason"]
    assert line.actor == "system"
    assert line.text.startswith("plan trigger assessment-aegl2-residential fired: assessment.aegl2_residential")
    assert "Homes 90% inside the AEGL-2 zone with probability >= 50%" in line.text
    assert "source cl2-liquefaction (located)" in line.text
    assert line.ref in incident.alarm_ids
    runner.assessments["Cl2"] = fake_assessment(runner, "AEGL-2")
    runner._update_conditions(NOW + 60, ["Cl2"])  # still holding: not raised again, no second line
    assert len([e for e in incident.timeline if e.kind == "trigger_reason"]) == 1
