"""A simulated Cl2 release replayed through the service: the API shows the estimate, zones, receptors and tier."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from daemon.clock import ManualClock
from daemon.drills.scenario import load_scenario
from daemon.drills.simulator import Simulator
from rules.site import Site
from tests.conftest import running_service, service_config

SCENARIO = Path(__file__).resolve().parents[2] / "daemon" / "drills" / "scenarios" / "cl2-leak-orange.yaml"


@pytest.mark.slow
async def test_cl2_release_assessment_in_the_api(
    machine_broker: tuple[str, int], sqlite_url: str, demo_site: Site, unique: str
) -> None:
    """The chlor-alkali Cl2 leak: the liquefaction unit is found, the AEGL-2 zone reaches the riverside estate,
    and the plan proposes orange from it; the GeoJSON carries the zones and the advice, labelled as advice."""
    scenario = load_scenario(SCENARIO).model_copy(update={"topic_prefix": unique, "duration_s": 2700})
    simulator = Simulator(scenario, demo_site)
    host, port = machine_broker
    config = service_config(f"mqtt://{host}:{port}", sqlite_url, unique, f"e2e-{unique}")
    config.ingest.decode_workers = 0  # decode in place, so each flush is processed before the next minute's tick
    clock = ManualClock(scenario.start_unix)
    async with running_service(config, demo_site, clock=clock) as service:
        next_minute = scenario.start_unix + 60
        for message in simulator.messages():
            while message.received >= next_minute:
                clock.set(next_minute)
                service.intake.flush()
                service.pipeline.tick(next_minute)
                await service.assessment.tick_in_thread(next_minute)
                next_minute += 60
            clock.set(message.received)
            service.intake.accept(message.topic, message.payload, message.received)
        await service.drain()
        assert "Cl2" in service.assessment.assessments
        assert any(name == "assessment.aegl2_residential" for name, _ in service.pipeline.flow.state.conditions_on)
        base = f"http://127.0.0.1:{service.http_port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/api/incidents") as response:
                incidents = (await response.json())["incidents"]
            assert incidents, "the release opened no incident"
            incident_id = incidents[0]["id"]
            async with http.get(f"{base}/api/incidents/{incident_id}/assessment") as response:
                assert response.status == 200
                body = await response.json()
    assert body["type"] == "FeatureCollection"
    props = body["properties"]
    assert props["proposed_tier"] == "orange"
    features = body["features"]
    source = next(f for f in features if f["properties"]["feature"] == "source_estimate")
    assert source["properties"]["status"] == "located"
    assert source["properties"]["candidate"] == "cl2-liquefaction"
    low, high = source["properties"]["rate_interval_g_s"]
    assert low <= 350 * 2
    assert high >= 350 / 2
    zones = {
        (f["properties"]["level"], f["properties"]["certainty"])
        for f in features
        if f["properties"]["feature"] == "threat_zone"
    }
    assert ("AEGL-2", "expected") in zones
    assert ("AEGL-2", "possible") in zones
    receptors = {
        f["properties"]["receptor"]: f["properties"] for f in features if f["properties"]["feature"] == "receptor"
    }
    riverside = receptors["riverside-estate"]
    assert riverside["expected_zone"] in ("AEGL-2", "AEGL-3")
    assert riverside["people_by_zone"]["AEGL-2"] > 0
    assert riverside["advice"] in ("shelter in place", "evacuate")
    assert riverside["advice_label"] == "advice for the duty officer, not an order"
    assert receptors["new-town-school"]["expected_zone"] is None  # upwind, south of the park
