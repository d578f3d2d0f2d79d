"""API actions go through the live alarm book and incident engine, so detection and escalation see them."""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp
import pytest

from daemon.web.api.auth import add_user
from detectors.substances import SUBSTANCES
from rules.alarm import AlarmState
from rules.site import Site
from tests.conftest import running_service, service_config
from tests.helpers import eventually, get_json, publish, senml

DEVICE = "gas-n03"


async def test_actions_reach_the_engines(
    machine_broker: tuple[str, int], sqlite_url: str, demo_site: Site, unique: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Acknowledge and shelve change the book; the next reading keeps the acknowledgement; the level is confirmed."""
    caplog.set_level(logging.INFO, logger="daemon.chain.recorder")
    prefix = f"hwtest-{unique}"
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, prefix, f"svc-{unique}")
    sensor = next(s for d in demo_site.devices if d.id == DEVICE for s in d.sensors)
    level1 = SUBSTANCES[sensor.substance or ""].occupational_limit_ppm
    topic = f"{prefix}/{demo_site.site}/{DEVICE}"
    t0 = time.time() - 120
    async with running_service(config, demo_site) as service:
        now = time.time()
        officer = await add_user(service.engine, "li-na", "operator", now)
        leader = await add_user(service.engine, "wang-qiang", "supervisor", now)
        base = f"http://127.0.0.1:{service.http_port}"
        await publish(machine_broker, [(topic, senml(DEVICE, [(sensor.name, 4 * level1, "ppm")], t0))])

        async def level_alarms() -> dict[str, dict[str, Any]]:
            rows = (await get_json(f"{base}/api/alarms?state=active"))["alarms"]
            found = {
                r["rule"]: r for r in rows if r["sensor_id"] == sensor.id and r["rule"].endswith(("level1", "level2"))
            }
            return found if len(found) == 2 else {}

        alarms = await eventually(level_alarms)
        level1_row, level2_row = sorted(alarms.values(), key=lambda r: r["rule"])
        async with aiohttp.ClientSession() as http:

            async def post(path: str, token: str, body: dict[str, Any]) -> Any:
                headers = {"Authorization": f"Bearer {token}"}
                async with http.post(base + path, json=body, headers=headers) as response:
                    assert response.status == 200, await response.text()
                    return await response.json()

            await post(f"/api/alarms/{level2_row['id']}/acknowledge", officer, {"reason": "seen on CCTV"})
            book = service.pipeline.flow.state.book
            assert book.get(level2_row["alarm_key"]).state is AlarmState.ACTIVE_ACKED
            # Another reading over the level: the book keeps the acknowledgement (the store alone would not).
            await publish(machine_broker, [(topic, senml(DEVICE, [(sensor.name, 5 * level1, "ppm")], t0 + 10))])
            index = service.table.index[sensor.id]

            async def judged() -> bool:  # the second reading really went through the chain, not just drain()
                return bool(service.pipeline.latest_time[index] == t0 + 10)

            assert await eventually(judged)
            assert book.get(level2_row["alarm_key"]).state is AlarmState.ACTIVE_ACKED

            await post(
                f"/api/alarms/{level1_row['id']}/shelve", leader, {"duration_s": 600, "reason": "maintenance crew"}
            )
            assert book.get(level1_row["alarm_key"]).state is AlarmState.SHELVED

            incidents = (await get_json(f"{base}/api/incidents"))["incidents"]
            assert incidents, "a level-2 alarm at a boundary sensor opens an incident"
            incident = incidents[0]
            # The title is the plan trigger in words; the deadlines are the engine's (page ack, then each report).
            assert incident["title"].startswith("园区边界任一气体探测器达到二级报警")
            assert incident["zones"] == ["boundary-north"]
            assert incident["kinds"] == ["gas"]
            names = [d["name"] for d in incident["deadlines"]]
            assert names[0].startswith("确认时限 / acknowledge by (then shift_leader)")
            assert "初报 / initial report" in names
            opened = incident["opened_at"]
            initial = next(d for d in incident["deadlines"] if d["name"] == "初报 / initial report")
            assert initial["due_at"] == pytest.approx(opened + 3600)
            await post(f"/api/incidents/{incident['id']}/confirm-level", leader, {"level": "IV", "reason": "one plant"})
            engine_incident = service.pipeline.flow.state.incidents.incident(incident["key"])
            assert engine_incident.confirmed_by == "wang-qiang"
            detail = await get_json(f"{base}/api/incidents/{incident['id']}")
            assert any(e["actor"] == "wang-qiang" for e in detail["timeline"])
    # The service log tells the story too, one INFO line per step (journald, log shippers).
    story = [r.getMessage() for r in caplog.records if r.name == "daemon.chain.recorder"]
    assert any(
        m.startswith(f"alarm {level2_row['id']} raised: high {level2_row['rule']} on {sensor.id}") for m in story
    )
    assert any(
        m.startswith(f"incident {incident['id']} opened: incident opened: trigger gas-level2-boundary") for m in story
    )
    assert any(m.startswith(f"incident {incident['id']} level_confirmed") for m in story)
