"""Full scale is censored, never silence; a fall no field makes (fold-back, a dead probe) is never taken as safety.

A reading at or above a hazard detector's full scale says the true value is *at least* full scale. Every "above" test
must count it so and alarm at once where full scale is above its level; nothing may clear on it. Synthetic truth: a
Cl2 release far above a 20 ppm cell's range, a gamma probe pegged at its full scale, a GM probe that folds back.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml

from detectors.core import DetectionCore
from detectors.readings import FLAG_SATURATED, ReadingBatch
from rules.engine import AlarmEvent, RuleEngine
from rules.loading import load_default_rules
from rules.model import Priority
from rules.sensor_table import SensorTable
from rules.site import Site
from tests.detectors.synthetic import T0, first_on, mixed_site, run, stream

DEMO_SITE = Path(__file__).parents[2] / "daemon" / "sites" / "demo-park.yaml"


def _demo() -> tuple[SensorTable, DetectionCore, RuleEngine]:
    table = SensorTable.build(Site.model_validate(yaml.safe_load(DEMO_SITE.read_text(encoding="utf-8"))))
    return table, DetectionCore(table.core_config()), RuleEngine(load_default_rules(), table)


def _alarms(core: DetectionCore, engine: RuleEngine, batch: ReadingBatch, chunk: int = 60) -> list[AlarmEvent]:
    """Feed the batch through the core and the default rules in live-sized pieces, as the pipeline does."""
    out: list[AlarmEvent] = []
    for a in range(0, len(batch), chunk):
        part = batch.take(slice(a, a + chunk))
        result = core.process(part)
        judged = ReadingBatch(part.sensor, part.time, part.value, result.flags)
        now = float(part.time.max())
        out += engine.process(now, result.conditions, judged, judged.valid_mask(), result.sorted_batch)
    return out


def _first(alarms: list[AlarmEvent], rule_id: str) -> AlarmEvent | None:
    return next((e for e in alarms if e.rule_id == rule_id and e.active), None)


def test_pegged_cl2_cell_alarms_at_once_and_never_clears_while_pegged() -> None:
    """A 20 ppm Cl2 cell inside a plume of hundreds of ppm reads 20.0 for 30 minutes: level 1, level 2 and IDLH
    alarm at the first pegged reading, the 10-min AEGL-2 within minutes (a lower-bound mean, said so), the
    detector fault pages, and no hazard alarm clears while the cell is pegged."""
    table, core, engine = _demo()
    cl2 = table.index["gas-n01-cl2"]
    assert table.sensors[cl2].full_scale == 20.0
    step = 10.0
    clean = np.round(np.abs(np.random.default_rng(3).normal(0.0, 0.01, 180)), 3)  # 30 min of clean air
    pegged = np.full(180, 20.0)  # 30 min of a release the cell cannot measure
    # After the release the cell decays with its own first-order response (T90 about 60 s), as a real cell does.
    tail = 20.0 * np.exp(-np.arange(1, 181) * step * np.log(10.0) / 60.0)
    series = np.round(np.concatenate([clean, pegged, tail]), 3)
    batch = stream([cl2], T0, step, {cl2: series})
    alarms = _alarms(core, engine, batch)
    start, stop = T0 + 180 * step, T0 + 360 * step

    for rule_id, within_s in (("cl2-level1", 0.0), ("cl2-level2", 0.0), ("cl2-idlh", 10.0)):
        event = _first(alarms, rule_id)
        assert event is not None, rule_id
        assert start <= event.time <= start + within_s, (rule_id, event.time - start)
        assert "at or above full scale" in event.message_en
        assert "满量程" in event.message_zh
        assert "≥20" in event.message_en
    aegl = _first(alarms, "cl2-aegl2-10min")
    assert aegl is not None
    assert aegl.time <= start + 4 * 60
    assert "at or above full scale" in aegl.message_en  # the 10-min mean is a lower bound
    fault = _first(alarms, "quality-detector-fault-hazard")
    assert fault is not None
    assert fault.time == start
    assert fault.priority.rank >= Priority.HIGH.rank  # pages
    hazards = {"cl2-level1", "cl2-level2", "cl2-idlh", "cl2-aegl2-10min", "cl2-aegl2-30min", "cl2-aegl1-60min"}
    cleared_while_pegged = [e for e in alarms if e.rule_id in hazards and not e.active and e.time < stop]
    assert cleared_while_pegged == []


def test_window_mean_with_censored_readings_is_a_lower_bound_and_does_not_clear() -> None:
    """A 10-min mean whose readings are partly pegged is reported as a lower bound and cannot clear the alarm,
    even when the lower bound dips under the clearing level."""
    site = mixed_site()
    fs = site.config.full_scale.copy()
    fs[site.cl2] = 3.0  # a cell whose range ends just above the Cl2 AEGL-2 (2.8 ppm)
    core = DetectionCore(replace(site.config, full_scale=fs))
    series = np.concatenate([np.zeros(120), np.full(240, 3.0), np.zeros(60)])  # 10 s reports
    series[360:] = 3.0 * np.exp(-np.arange(1, 61) * 10.0 * np.log(10.0) / 60.0)  # the cell's own decay
    events = run(core, stream([site.cl2], T0, 10.0, {site.cl2: series}))
    on = first_on(events, "gas.aegl2_10min", site.cl2)
    assert T0 + 120 * 10 < on <= T0 + 120 * 10 + 12 * 60
    offs = [t for s, t, a in events["gas.aegl2_10min"] if not a]
    # The 10-min window still holds pegged readings until 10 minutes after the last one: no clearing before.
    assert all(t >= T0 + 360 * 10 + 9 * 60 for t in offs)


def test_gamma_probe_pegged_at_full_scale_rises_at_once() -> None:
    """A gamma probe whose range ends at 1,500 nSv/h, pegged there: the rise is raised at the first pegged reading
    (its lower bound is far above background + 30 %), and it does not clear while the probe stays pegged."""
    site = mixed_site()
    fs = site.config.full_scale.copy()
    g = site.gamma[0]
    fs[g] = 1500.0
    core = DetectionCore(replace(site.config, full_scale=fs))
    rng = np.random.default_rng(8)
    dose = rng.poisson(600, 240) / 6.0  # 100 nSv/h background, 60 s reports
    dose[120:200] = 1500.0
    events = run(core, stream([g], T0, 60.0, {g: dose}))
    assert first_on(events, "gamma.rise", g) == T0 + 120 * 60
    assert [t for _, t, a in events["gamma.rise"] if not a and t < T0 + 200 * 60] == []
    assert first_on(events, "quality.detector_fault", g) == T0 + 120 * 60
    # No washout comes near a pegged probe: suspicious at once, not after the ten minutes a rise waits for rain
    # gauges and neighbours.
    assert first_on(events, "gamma.rise_suspicious", g) == T0 + 120 * 60


def test_gamma_fixed_levels_count_a_pegged_probe() -> None:
    """The 1,000 and 2,000 nSv/h rules fire on readings at full scale (saturation flagged), with the text."""
    table, _, engine = _demo()
    g = table.index["gamma-01-dose"]
    times = [0.0, 60.0, 120.0, 180.0]
    batch = ReadingBatch.from_lists([g] * 4, times, [1.0e7] * 4, [int(FLAG_SATURATED)] * 4)
    out = engine.process(180.0, batch=batch)
    fired = {e.rule_id: e for e in out if e.active}
    assert {"gamma-level-200", "gamma-level-1000", "gamma-level-2000"} <= set(fired)
    assert "at or above full scale" in fired["gamma-level-2000"].message_en


def test_shielding_breach_on_a_pegged_source_monitor() -> None:
    """A source monitor pegged at full scale is a shielding breach at once (full scale is far above the level)."""
    site = mixed_site()
    dose = np.full(40, 1500.0)
    dose[10:20] = 1e8  # full scale of the camera's dose channel
    dose[20:] = 1e8
    events = run(DetectionCore(site.config), stream([site.source_dose], T0, 30.0, {site.source_dose: dose}))
    assert events["source.shielding_breach"] == [(site.source_dose, T0 + 10 * 30.0, True)]


def _foldback_dose() -> np.ndarray:
    """100 nSv/h, then a 50 uSv/h field for 10 minutes, then the GM tube folds back and reads near zero."""
    dose = np.full(180, 100.0) + np.random.default_rng(1).normal(0, 3, 180)
    dose[60:70] = 50_000.0
    dose[70:] = 0.0
    dose[71:] = 40.0 + np.arange(109) % 7  # a paralysed tube reads a little (never the field), not frozen
    return dose


def test_foldback_holds_the_alarm_and_pages_a_detector_fault() -> None:
    """A fall of three orders of magnitude in one report, with no device flag, is not credible: threshold and
    rise alarms stay on, and a detector fault is raised at the fall."""
    site = mixed_site()
    g = site.gamma[0]
    events = run(DetectionCore(site.config), stream([g], T0, 60.0, {g: _foldback_dose()}))
    assert first_on(events, "threshold.high", g) <= T0 + 70 * 60
    assert [a for _, _, a in events["threshold.high"]] == [True]
    assert [a for _, _, a in events["gamma.rise"]] == [True]
    assert events["quality.detector_fault"] == [(g, T0 + 70 * 60, True)]


def test_foldback_ends_on_credible_readings_or_an_operator_reset() -> None:
    """Credible readings (the field read again) end "not credible"; so does an operator reset, after which
    background readings clear the alarms."""
    site = mixed_site()
    g = site.gamma[0]
    dose = _foldback_dose()
    dose[120:] = 45_000.0  # the tube recovers and reads the field
    events = run(DetectionCore(site.config), stream([g], T0, 60.0, {g: dose}))
    assert events["quality.detector_fault"] == [(g, T0 + 70 * 60, True), (g, T0 + 120 * 60, False)]

    core = DetectionCore(site.config)
    dose = _foldback_dose()
    batch = stream([g], T0, 60.0, {g: dose})
    first = run(core, batch.take(slice(0, 100)))
    assert [a for _, _, a in first["threshold.high"]] == [True]
    core.reset_credibility([g])  # the operator checked the probe: the field is gone
    later = run(core, batch.take(slice(100, 180)))
    assert [a for _, _, a in later["threshold.high"]] == [False]
    assert [a for _, _, a in later["quality.detector_fault"]] == [False]


def test_a_plume_that_fades_is_credible() -> None:
    """A real fall (a plume passing, halving each report) is no fold-back: no detector fault, alarms clear."""
    site = mixed_site()
    g = site.gamma[0]
    dose = np.full(180, 100.0)
    dose[60:70] = 50_000.0
    dose[70:90] = 100.0 + 49_900.0 * 0.5 ** np.arange(1, 21)
    events = run(DetectionCore(site.config), stream([g], T0, 60.0, {g: dose}))
    assert "quality.detector_fault" not in events
    assert [a for _, _, a in events["threshold.high"]] == [True, False]


def test_a_default_rule_pages_on_detector_faults_at_every_hazard_channel() -> None:
    """Gas and gamma detector faults (saturation, fold-back) and source-monitor faults page (priority high+)."""
    table, _, engine = _demo()
    for sensor_id, condition in (
        ("gas-n01-cl2", "quality.detector_fault"),
        ("gamma-01-dose", "quality.detector_fault"),
        ("src-cam-01-dose", "source.detector_fault"),
    ):
        rules = [r for r in engine.rules_for(condition) if sensor_id in engine.sensors_of(r.id)]
        assert rules, sensor_id
        assert max(r.priority.rank for r in rules) >= Priority.HIGH.rank, sensor_id
    assert table.index["src-cam-01-dose"] >= 0
