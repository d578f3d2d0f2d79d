"""Sealed-source monitors: geofence, GPS glitches, source missing, saturation, tamper, liveness."""

from __future__ import annotations

import numpy as np

from detectors.core import DetectionCore
from detectors.readings import FLAG_DEVICE_FAULT, FLAG_SATURATED, ReadingBatch
from tests.detectors.synthetic import T0, MixedSite, first_on, mixed_site, run, stream

STEP_S = 30.0


def _fixes(site: MixedSite, north_m: np.ndarray, hdop: np.ndarray) -> ReadingBatch:
    lat = site.fence_center[0] + north_m / 111_195.0
    lon = np.full(north_m.shape[0], site.fence_center[1])
    return stream([site.lat, site.lon, site.hdop], T0, STEP_S, {site.lat: lat, site.lon: lon, site.hdop: hdop})


def test_camera_driven_out_of_its_geofence_alarms() -> None:
    """A radiography camera driven away: alarm on the second good fix outside, reported on the device's first sensor."""
    site = mixed_site()
    north = np.concatenate([np.linspace(0, 550, 10), np.linspace(650, 2000, 10)])  # fence radius 600 m
    events = run(DetectionCore(site.config), _fixes(site, north, np.full(20, 1.1)))
    assert events["source.geofence_exit"] == [(site.source_dose, T0 + 11 * STEP_S, True)]


def test_gps_glitch_with_poor_hdop_does_not_alarm() -> None:
    """Wild fixes with HDOP above 5 are ignored, however many; a single good fix outside is not enough either."""
    site = mixed_site()
    north = np.full(30, 100.0)
    hdop = np.full(30, 1.0)
    north[5:12] = 5_000.0
    hdop[5:12] = 12.0  # multipath glitch: far away, poor geometry
    north[20] = 900.0  # one good fix outside, then back inside
    events = run(DetectionCore(site.config), _fixes(site, north, hdop))
    assert "source.geofence_exit" not in events


def test_geofence_polygon() -> None:
    """A polygon fence works like the circle one."""
    from dataclasses import replace

    site = mixed_site()
    c = site.config
    square_lat = site.fence_center[0] + np.array([-1, -1, 1, 1]) * 300 / 111_195.0
    square_lon = site.fence_center[1] + np.array([-1, 1, 1, -1]) * 0.004
    offsets = np.zeros(c.n_devices + 1, np.int32)
    offsets[7:] = 4
    radius = c.geofence_radius_m.copy()
    radius[6] = np.nan
    config = replace(
        c, geofence_radius_m=radius, polygon_offsets=offsets, polygon_lat=square_lat, polygon_lon=square_lon
    )
    north = np.array([0, 100, 250, 350, 400, 420, 100, 0.0])
    events = run(DetectionCore(config), _fixes(site, north, np.full(8, 1.0)))
    assert events["source.geofence_exit"] == [
        (site.source_dose, T0 + 4 * STEP_S, True),
        (site.source_dose, T0 + 6 * STEP_S, False),
    ]


def _dose_events(
    dose: np.ndarray, flags: np.ndarray | None = None
) -> tuple[MixedSite, dict[str, list[tuple[int, float, bool]]]]:
    site = mixed_site()
    f = {site.source_dose: flags} if flags is not None else None
    return site, run(DetectionCore(site.config), stream([site.source_dose], T0, STEP_S, {site.source_dose: dose}, f))


def test_source_missing_after_three_low_samples() -> None:
    """Container dose falls to background: missing on the third consecutive healthy sample below the level."""
    rng = np.random.default_rng(0)
    dose = 1500 + rng.normal(0, 20, 40)
    dose[20:] = 100 + rng.normal(0, 5, 20)
    site, events = _dose_events(dose)
    assert first_on(events, "source.missing", site.source_dose) == T0 + 22 * STEP_S


def test_saturated_or_faulty_reading_is_never_safe() -> None:
    """A GM tube folding back reads low; with the saturation/fault flag it is never taken as the source gone,
    never clears an alarm, and raises detector_fault instead."""
    rng = np.random.default_rng(0)
    dose = 1500 + rng.normal(0, 20, 40)
    flags = np.zeros(40, np.uint16)
    dose[10:20] = 50.0  # fold-back: reads like background...
    flags[10:15] = FLAG_SATURATED  # ...but the device says saturated
    flags[15:20] = FLAG_DEVICE_FAULT
    site, events = _dose_events(dose, flags)
    assert "source.missing" not in events
    assert events["source.detector_fault"][0] == (site.source_dose, T0 + 10 * STEP_S, True)

    # A reading pinned at full scale is saturated even without the device saying so, and censored: the dose is at
    # least full scale, far above the breach level, so the shielding breach is raised at once (issue 12).
    dose2 = 1500 + rng.normal(0, 20, 40)
    dose2[10:13] = 1e8
    site, events = _dose_events(dose2)
    assert events["source.detector_fault"][0] == (site.source_dose, T0 + 10 * STEP_S, True)
    assert events["source.shielding_breach"] == [(site.source_dose, T0 + 10 * STEP_S, True)]

    # Once missing, saturated low readings do not clear the alarm.
    dose3 = np.concatenate([np.full(10, 1500.0), np.full(30, 100.0)]) + rng.normal(0, 5, 40)
    flags3 = np.zeros(40, np.uint16)
    flags3[20:30] = FLAG_SATURATED
    dose3[20:30] = 3000.0  # saturated garbage
    site, events = _dose_events(dose3, flags3)
    assert [a for _, _, a in events["source.missing"]] == [True]


def test_saturated_gamma_station_never_clears_a_rise() -> None:
    """Saturated/faulty gamma readings neither raise nor clear the rise and threshold alarms."""
    site = mixed_site()
    rng = np.random.default_rng(4)
    dose = rng.poisson(600, 300) / 6.0
    dose[120:] *= 3  # 300 nSv/h: rise and threshold.high (200)
    flags = np.zeros(300, np.uint16)
    flags[200:] = FLAG_SATURATED
    dose[200:] = 20.0  # fold-back
    g = site.gamma[0]
    events = run(DetectionCore(site.config), stream([g], T0, 60.0, {g: dose}, {g: flags}))
    assert [a for _, _, a in events["gamma.rise"]] == [True]
    assert [a for _, _, a in events["threshold.high"]] == [True]
    assert events["quality.detector_fault"][0][1] == T0 + 200 * 60.0


def test_tamper_is_immediate_and_device_level() -> None:
    """One tamper reading raises source.tamper at once, on the device's first sensor."""
    site = mixed_site()
    tamper = np.zeros(10)
    tamper[4] = 1.0
    events = run(DetectionCore(site.config), stream([site.tamper], T0, STEP_S, {site.tamper: tamper}))
    assert events["source.tamper"] == [
        (site.source_dose, T0 + 4 * STEP_S, True),
        (site.source_dose, T0 + 5 * STEP_S, False),
    ]


def test_battery_and_mains() -> None:
    """Battery low after its on-delay below 11.4 V; mains lost at once."""
    site = mixed_site()
    battery = np.linspace(12.5, 11.0, 60)
    mains = np.ones(60)
    mains[30:] = 0
    events = run(
        DetectionCore(site.config),
        stream([site.battery, site.mains], T0, STEP_S, {site.battery: battery, site.mains: mains}),
    )
    crossing = int(np.argmax(battery <= 11.4))
    assert first_on(events, "source.battery_low", site.source_dose) == T0 + (crossing + 2) * STEP_S  # 60 s on-delay
    assert first_on(events, "source.mains_lost", site.source_dose) == T0 + 30 * STEP_S


def test_offline_heartbeat_and_last_will() -> None:
    """Three missed intervals: offline + heartbeat lost; a reading brings it back; the last will is immediate."""
    site = mixed_site()
    core = DetectionCore(site.config)
    core.process(stream([site.source_dose], T0, STEP_S, {site.source_dose: np.full(3, 1500.0)}))
    last = T0 + 2 * STEP_S
    assert not any(len(e) for e in core.tick(last + 3 * STEP_S))
    fired = {e.condition: e for e in core.tick(last + 3 * STEP_S + 1)}
    assert fired["quality.offline"].sensor.tolist() == [site.source_dose]
    assert fired["source.heartbeat_lost"].sensor.tolist() == [site.source_dose]
    back = core.process(ReadingBatch.from_lists([site.battery], [last + 200], [12.0]))
    cleared = {e.condition: e for e in back.conditions}
    assert cleared["quality.offline"].active.tolist() == [False]
    assert cleared["source.heartbeat_lost"].time.tolist() == [last + 200]
    will = {e.condition: e for e in core.device_status(6, online=False, now=last + 210)}
    assert will["quality.offline"].active.tolist() == [True]
    assert will["source.heartbeat_lost"].active.tolist() == [True]
    online = {e.condition: e for e in core.device_status(6, online=True, now=last + 220)}
    assert online["quality.offline"].active.tolist() == [False]


def test_device_level_conditions_use_the_first_sensor() -> None:
    """On a monitor whose first channel is the tamper switch, missing and tamper are both reported on it."""
    from detectors.config import CoreConfig
    from detectors.kinds import Kind

    config = CoreConfig.build([Kind.TAMPER, Kind.SOURCE_DOSE_RATE], [0, 0], report_interval_s=np.array([30.0, 30.0]))
    config = config.with_sources([1], [1500.0], [3])
    dose = np.concatenate([np.full(5, 1500.0), np.full(5, 90.0)])
    tamper = np.zeros(10)
    tamper[8] = 1
    events = run(DetectionCore(config), stream([0, 1], T0, STEP_S, {0: tamper, 1: dose}))
    assert events["source.missing"] == [(0, T0 + 7 * STEP_S, True)]
    assert events["source.tamper"][0] == (0, T0 + 8 * STEP_S, True)
