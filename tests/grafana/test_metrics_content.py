"""The service's real /metrics output: promtool accepts it, and the derived series say what happened."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import aiomqtt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from daemon.service import Service
from plans.model import Tier
from rules.model import Priority
from tests.grafana.conftest import ServiceFactory, run_tool, wait_until


async def _publish(service: Service, messages: list[tuple[str, bytes]]) -> None:
    target = service.target
    async with aiomqtt.Client(target.host, target.port, identifier=f"{service.config.mqtt.client_id}-feed") as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)


async def _wait_for_messages(service: Service, count: int) -> None:
    await wait_until(lambda: (service.registry.get_sample_value("hazwatch_ingest_messages_total") or 0) >= count)
    await service.drain()


async def _scrape(service: Service) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{service.http_port}/metrics") as r:
        assert r.status == 200
        return await r.text()


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


TIERS = tuple(tier.value for tier in Tier)


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    matches = [v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls]
    assert len(matches) == 1, f"{name}{labels}: {len(matches)} series"
    return matches[0]


async def test_metrics_pass_promtool_and_describe_the_readings(make_service: ServiceFactory, promtool: str) -> None:
    service = await make_service()
    async with asyncio.timeout(20):
        await service.wait_connected()
    prefix, site = service.config.mqtt.topic_prefix, service.site.site
    now = time.time()
    gas_high = [
        {"bn": "gas-n01:", "bt": now - 20, "n": "cl2", "u": "ppm", "v": 2.0},
        {"n": "cl2", "u": "ppm", "v": 2.0, "t": 10},
        {"n": "cl2", "u": "ppm", "v": 2.0, "t": 20},
    ]
    gamma = [{"bn": "gamma-01:", "bt": now, "n": "dose_rate", "v": 95.0}]
    tamper = [{"bn": "src-gauge-01:", "bt": now, "n": "tamper", "vb": True}]
    messages = [
        (f"{prefix}/{site}/gas-n01", json.dumps(gas_high).encode()),
        (f"{prefix}/{site}/gamma-01", json.dumps(gamma).encode()),
        (f"{prefix}/{site}/src-gauge-01", json.dumps(tamper).encode()),
        (f"{prefix}/{site}/gamma-02", b"{not json"),
    ]
    await _publish(service, messages)
    await _wait_for_messages(service, len(messages))
    text = await _scrape(service)

    returncode, output = await run_tool(promtool, "check", "metrics", stdin=text.encode())
    assert returncode == 0, output
    assert not output.strip(), output

    samples = _samples(text)
    assert _value(samples, "hazwatch_sensor_value", sensor="gas-n01-cl2") == 2.0
    assert _value(samples, "hazwatch_sensor_state", sensor="gas-n01-cl2", state="alarm") == 1.0
    assert _value(samples, "hazwatch_sensor_state", sensor="gas-n01-cl2", state="normal") == 0.0
    assert _value(samples, "hazwatch_sensor_state", sensor="gamma-01-dose", state="normal") == 1.0
    assert _value(samples, "hazwatch_sensor_state", sensor="gamma-03-dose", state="offline") == 1.0
    assert _value(samples, "hazwatch_source_status", device="src-gauge-01", status="tamper") == 1.0
    assert _value(samples, "hazwatch_source_status", device="src-gauge-02", status="tamper") == 0.0
    assert _value(samples, "hazwatch_source_status", device="src-gauge-02", status="offline") == 1.0
    assert _value(samples, "hazwatch_alarms", priority="high", state="active_unack") == 1.0
    for priority in (p.value for p in Priority):
        annunciated = sum(
            _value(samples, "hazwatch_alarms", priority=priority, state=state)
            for state in ("active_unack", "active_acked", "latched_unack", "latched_acked")
        )
        assert _value(samples, "hazwatch_alarms_active", priority=priority) == annunciated
    assert _value(samples, "hazwatch_quarantined_messages_total", reason="invalid_json") == 1.0
    assert _value(samples, "hazwatch_sensor_level", sensor="gas-n01-cl2", level="aegl2_60min") == 2.0
    assert _value(samples, "hazwatch_sensor_level", sensor="gas-n01-cl2", level="high_high") == pytest.approx(
        0.69, abs=1e-3
    )
    # Detector level 2 at a boundary sensor and an opened source container: two hazards (gas, radiation), so the
    # plan's `grouping: hazard` opens two blue incidents.
    open_by_tier = {tier: _value(samples, "hazwatch_incidents_open", tier=tier) for tier in TIERS}
    assert open_by_tier == {"blue": 2.0, "yellow": 0.0, "orange": 0.0, "red": 0.0}
    assert _value(samples, "hazwatch_incident_highest_tier") == 1.0
    assert _value(samples, "hazwatch_mqtt_connected") == 1.0
    info = [ls for (n, ls) in samples if n == "hazwatch_sensor_info"]
    assert len(info) == len(service.table)
    assert ("lat", "31.922458") in next(ls for ls in info if ("sensor", "gamma-01-dose") in ls)
