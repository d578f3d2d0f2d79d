"""The simulator: deterministic by seed, realistic rain washout, columnar and SenML forms carry the same readings."""

from __future__ import annotations

import numpy as np

from daemon.drills.scenario import SCENARIO_LIBRARY, load_scenario
from daemon.drills.simulator import Simulator
from daemon.ingest.senml import BatchBuilder, SenmlDecoder
from daemon.site_file import load_site
from detectors.kinds import Kind


def _simulator(name: str, duration_s: float) -> Simulator:
    scenario = load_scenario(SCENARIO_LIBRARY / f"{name}.yaml")
    scenario = scenario.model_copy(update={"duration_s": duration_s})
    return Simulator(scenario, load_site(scenario.site_file))


def test_the_same_seed_gives_the_same_messages_and_another_seed_does_not() -> None:
    first = list(_simulator("cl2-leak-orange", 1800).messages())
    second = list(_simulator("cl2-leak-orange", 1800).messages())
    assert first == second
    other = _simulator("cl2-leak-orange", 1800)
    other.scenario = other.scenario.model_copy(update={"seed": 99})
    reseeded = Simulator(other.scenario, other.site)
    assert list(reseeded.messages()) != first


def test_every_library_scenario_loads_and_names_what_should_detect_its_real_events() -> None:
    names = sorted(p.stem for p in SCENARIO_LIBRARY.glob("*.yaml"))
    assert len(names) >= 5
    for name in names:
        simulator = _simulator(name, load_scenario(SCENARIO_LIBRARY / f"{name}.yaml").duration_s)
        truth = simulator.ground_truth()
        for event in truth["events"]:
            if event["real"] and event["type"] != "monitor_silent":
                assert event["expected_detections"], (name, event["id"])


def test_rain_raises_every_gamma_station_together_by_half_to_double_and_decays() -> None:
    simulator = _simulator("rain-afternoon", 6 * 3600)
    gamma = simulator.table.kind == list(Kind).index(Kind.GAMMA_DOSE_RATE)
    values = np.concatenate([block.values[:, gamma] for block in simulator.blocks()])
    step = simulator.step
    before = values[: 3600 // step].mean(axis=0)
    end_of_rain = values[(2 * 3600 - 300) // step : 2 * 3600 // step].mean(axis=0)
    three_hours_later = values[(5 * 3600 - 300) // step : 5 * 3600 // step].mean(axis=0)
    ratio = end_of_rain / before
    assert np.all(ratio > 1.4), ratio
    assert np.all(ratio < 2.1), ratio
    assert np.all(three_hours_later / before < 1.25)
    assert np.all(end_of_rain < 200)


def test_columnar_batches_hold_exactly_what_the_codec_decodes_from_the_senml_messages() -> None:
    simulator = _simulator("sensor-fault-day", 4 * 3600)
    table = simulator.table
    decoder = SenmlDecoder(table, "hazwatch", 256 * 1024, 300.0, 7 * 86400.0)
    builder = BatchBuilder()
    for message in simulator.messages():
        decoder.decode(message.topic, message.payload, message.received, builder)
    decoded = builder.build()
    batches = [batch for batch, *_ in simulator.batches()]
    sensor = np.concatenate([b.sensor for b in batches])
    time = np.concatenate([b.time for b in batches])
    value = np.concatenate([b.value for b in batches])
    flags = np.concatenate([b.flags for b in batches])
    a = np.lexsort((decoded.sensor, decoded.time))
    b = np.lexsort((sensor, time))
    assert len(decoded) == len(sensor)
    np.testing.assert_array_equal(decoded.sensor[a], sensor[b])
    np.testing.assert_array_equal(decoded.time[a], time[b])
    np.testing.assert_array_equal(decoded.value[a], value[b])
    np.testing.assert_array_equal(decoded.flags[a], flags[b])
    assert flags.any(), "the full-scale fault reports a device fault: some readings must carry the flag"
