"""An operator resets "reading not credible" through the API of the running service; who and when are kept.

A Cl2 cell (20 ppm full scale) reads 15 ppm, then 0: a fall of more than two orders of magnitude from a high reading
in one report is not credible (a cell poisoned by the release, a dead probe), so its hazard alarms are held and a
detector fault pages. Only credible readings or an operator reset end that.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
from sqlalchemy import select

from daemon.store.schema import alarm_events
from daemon.web.api.auth import add_user
from rules.site import Site
from tests.conftest import running_service, service_config
from tests.helpers import eventually, get_json, publish, senml

DEVICE = "gas-n01"
SENSOR = "gas-n01-cl2"


async def test_operator_reset_of_a_not_credible_cell(
    machine_broker: tuple[str, int], sqlite_url: str, demo_site: Site, unique: str
) -> None:
    prefix = f"hwtest-{unique}"
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, prefix, f"svc-{unique}")
    sensor = next(s for d in demo_site.devices if d.id == DEVICE for s in d.sensors if s.id == SENSOR)
    topic = f"{prefix}/{demo_site.site}/{DEVICE}"
    t0 = time.time() - 300
    async with running_service(config, demo_site) as service:
        now = time.time()
        officer = await add_user(service.engine, "zhao-min", "operator", now)
        viewer = await add_user(service.engine, "guest", "viewer", now)
        base = f"http://127.0.0.1:{service.http_port}"
        index = service.table.index[SENSOR]

        async def reading(value: float, at: float) -> None:
            await publish(machine_broker, [(topic, senml(DEVICE, [(sensor.name, value, "ppm")], at))])

            async def judged() -> bool:
                return bool(service.pipeline.latest_time[index] == at)

            assert await eventually(judged)

        async def fault_and_level2() -> set[str]:
            rows = (await get_json(f"{base}/api/alarms?state=active"))["alarms"]
            rules = {r["rule"] for r in rows if r["sensor_id"] == SENSOR and r["state"] != "normal"}
            return rules if {"quality-detector-fault-hazard", "cl2-level2"} <= rules else set()

        await reading(15.0, t0)
        await reading(0.0, t0 + 10)  # 15 ppm to nothing in one report: not credible
        assert service.pipeline.detector.not_credible(index)
        # The fault pages and the level-2 alarm is held: the zero is not believed.
        assert await eventually(fault_and_level2)
        await reading(0.0, t0 + 20)
        assert service.pipeline.detector.not_credible(index)
        held = (await get_json(f"{base}/api/alarms/{_row_id(service, 'cl2-level2')}"))["alarm"]
        assert held["cleared_at"] is None

        async with aiohttp.ClientSession() as http:

            async def post(path: str, token: str, body: dict[str, Any]) -> tuple[int, Any]:
                headers = {"Authorization": f"Bearer {token}"}
                async with http.post(base + path, json=body, headers=headers) as response:
                    return response.status, await response.json()

            path = f"/api/sensors/{SENSOR}/reset-credibility"
            status, body = await post(path, viewer, {"reason": "x"})
            assert status == 403
            status, body = await post(path, officer, {})
            assert status == 400
            assert "reason" in body["error"]
            assert service.pipeline.detector.not_credible(index)  # refused requests change nothing
            status, body = await post("/api/sensors/no-such-sensor/reset-credibility", officer, {"reason": "x"})
            assert status == 404

            status, body = await post(path, officer, {"reason": "bump test on site: cell reads span gas"})
            assert status == 200, body
            reset = body["reset"]
            assert reset["actor"] == "zhao-min"
            assert reset["sensor_id"] == SENSOR
            assert abs(reset["reset_at"] - time.time()) < 60
            assert reset["alarm_ids"]
            assert not service.pipeline.detector.not_credible(index)
            # A second reset has nothing to do.
            status, body = await post(path, officer, {"reason": "again"})
            assert status == 409

        # Who and when are in the detector-fault alarm's history.
        async with service.engine.connect() as connection:
            rows = (
                await connection.execute(select(alarm_events).where(alarm_events.c.alarm_id.in_(reset["alarm_ids"])))
            ).all()
        notes = [r for r in rows if r.actor == "zhao-min"]
        assert notes
        assert notes[0].reason.startswith("reading credibility reset: bump test")

        # The clean reading after the reset is believed: the level alarm's condition clears.
        await reading(0.0, t0 + 30)

        async def level2_cleared() -> bool:
            rows = (await get_json(f"{base}/api/alarms/{_row_id(service, 'cl2-level2')}"))["alarm"]
            return rows["cleared_at"] is not None

        assert await eventually(level2_cleared)


def _row_id(service: Any, rule: str) -> int:
    flow = service.pipeline.flow
    for key, episode in flow.state.episodes.items():
        alarm = flow.state.book.get(key)
        if alarm.sensor_id == SENSOR and alarm.rule_id == rule:
            return int(episode.row_id)
    raise AssertionError(f"no {rule} alarm at {SENSOR}")
