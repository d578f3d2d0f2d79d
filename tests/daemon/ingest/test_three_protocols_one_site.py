"""Done when: an HJ 212 logger, a Modbus controller and an MQTT device of one site reach the same alarms,
incidents and metrics, bad HJ 212 frames are quarantined, and a reviewer's invalidation changes the day's ratios."""

from __future__ import annotations

import subprocess
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from sqlalchemy import select

from daemon.store.schema import quarantine
from daemon.web.api.auth import add_user
from rules.site import Site
from tests.conftest import free_port, running_service, service_config
from tests.daemon.ingest.hj212_examples import MN, PASSWORD, realtime_packet
from tests.daemon.ingest.modbus_controller import HOLDING_FC, Controller
from tests.daemon.ingest.test_hj212_listener import LoggerClient
from tests.helpers import eventually, get_json, publish, senml

CL2_OVER = 5.0  # ppm: over GB/T 50493 level 2 for Cl2 (0.69 ppm) and the AEGL-2 10-min value


def park(modbus_port: int) -> Site:
    """One boundary with three chlorine detectors, one per protocol."""

    def device(device_id: str, lon: float, **protocol: Any) -> dict[str, Any]:
        return {
            "id": device_id,
            "type": "gas_detector",
            "position": {"lat": 31.0, "lon": lon},
            "zone": "boundary",
            "report_interval_s": 10,
            "sensors": [{"id": f"{device_id}-cl2", "name": "cl2", "kind": "gas", "unit": "ppm", "substance": "Cl2"}],
            **protocol,
        }

    return Site.model_validate({
        "site": "three",
        "name": "three protocols",
        "center": {"lat": 31.0, "lon": 121.0},
        "zones": [{"id": "boundary", "name": "park boundary", "type": "boundary"}],
        "devices": [
            device("logger", 121.0, hj212={"mn": MN, "password": PASSWORD, "codes": {"a21024": "cl2"}}),
            device("controller", 121.001, modbus={
                "host": "127.0.0.1", "port": modbus_port, "poll_interval_s": 0.2, "timeout_s": 0.5,
                "values": [{"sensor": "cl2", "address": 0, "scale": 0.01}],
            }),
            device("mqtt-head", 121.002),
        ],
    })  # fmt: skip


async def test_hj212_modbus_and_mqtt_reach_the_same_alarms_incidents_and_metrics(
    machine_broker: tuple[str, int], sqlite_url: str, unique: str, promtool: str
) -> None:
    controller = Controller(free_port())
    await controller.set(HOLDING_FC, 0, [int(CL2_OVER * 100)])
    await controller.start()
    site = park(controller.port)
    prefix = f"hw-{unique}"
    broker = f"mqtt://{machine_broker[0]}:{machine_broker[1]}"
    config = service_config(broker, sqlite_url, prefix, unique, render_process=True)  # /metrics is scraped
    config.hj212.enabled = True
    config.hj212.port = 0
    try:
        async with running_service(config, site) as service:
            base = f"http://127.0.0.1:{service.http_port}"
            t0 = time.time() - 30
            local = datetime.fromtimestamp(t0, ZoneInfo(site.timezone))
            if local.hour == 0 and local.minute < 2:  # keep the three readings in one local day (for the review)
                t0 -= 180
            logger = await LoggerClient.connect(service)
            for i, t in enumerate((t0, t0 + 11, t0 + 22)):
                await logger.send(realtime_packet(t, {"a21024": (CL2_OVER, "N")}, qn=f"2026010100000000{i}"))
                assert (await logger.answer()).cn == "9014"
            bad = realtime_packet(t0, {"a21024": (CL2_OVER, "N")})
            await logger.send(bad[:-6] + b"FFFF\r\n")  # wrong CRC
            assert (await logger.answer()).cp == "QnRtn=9"
            topic = f"{prefix}/{site.site}/mqtt-head"
            await publish(
                machine_broker,
                [(topic, senml("mqtt-head", [("cl2", CL2_OVER, "ppm")], t)) for t in (t0, t0 + 11, t0 + 22)],
            )

            sensors = {"logger-cl2", "controller-cl2", "mqtt-head-cl2"}

            async def alarms_of_all_three() -> set[str]:
                service.field_protocols.flush()
                rows = (await get_json(f"{base}/api/alarms"))["alarms"]
                raised = {r["sensor_id"] for r in rows if r["rule"] == "cl2-level2" and r["active"]}
                return raised if raised == sensors else set()

            await eventually(alarms_of_all_three, timeout=30)
            incidents = (await get_json(f"{base}/api/incidents"))["incidents"]
            assert incidents, "a level-2 chlorine release at the boundary opens an incident"
            async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as response:
                exposition = await response.text()
            for sensor in sensors:
                assert any(
                    line.startswith("hazwatch_sensor_value{") and f'sensor="{sensor}"' in line
                    for line in exposition.splitlines()
                ), sensor
            command = [promtool, "check", "metrics"]
            checked = subprocess.run(command, input=exposition, capture_output=True, text=True, check=False)
            assert checked.returncode == 0, checked.stdout + checked.stderr
            assert 'hazwatch_modbus_polls_total{outcome="ok"}' in exposition
            assert 'hazwatch_quarantined_messages_total{reason="hj212_crc_mismatch"} 1.0' in exposition
            assert 'hazwatch_hj212_frames_total{outcome="accepted"} 3.0' in exposition
            await service.drain()
            async with service.engine.connect() as connection:
                rows = (await connection.execute(select(quarantine.c.reason, quarantine.c.payload))).all()
            assert [(r.reason, r.payload) for r in rows] == [("hj212_crc_mismatch", bad[:-6] + b"FFFF\r\n")]
            await logger.close()

            # A station reviewer invalidates the logger's readings of the release (a span check gone wrong, say):
            # the day's valid ratio after review drops, the audit trail says who and why.
            token = await add_user(service.engine, "zhao-min", "reviewer_station", service.clock.now())
            day = datetime.fromtimestamp(t0, ZoneInfo(site.timezone)).date().isoformat()
            before = await get_json(f"{base}/api/review/logger/{day}")
            assert before["ratios"]["valid_after"] == before["ratios"]["valid_before"] > 0
            body = {"from": t0 - 1, "to": t0 + 23, "reason_code": "calibration", "comment": "span gas left on"}
            headers = {"Authorization": f"Bearer {token}"}
            async with (
                aiohttp.ClientSession() as session,
                session.post(f"{base}/api/review/logger/{day}/invalidate", json=body, headers=headers) as response,
            ):
                assert response.status == 200, await response.text()
                after = await response.json()
            assert after["ratios"]["valid_after"] == 0
            assert after["ratios"]["valid_before"] == before["ratios"]["valid_before"]
            (action,) = after["actions"]
            assert (action["actor"], action["reason_code"], action["comment"]) == (
                "zhao-min", "calibration", "span gas left on",
            )  # fmt: skip
    finally:
        await controller.stop()
