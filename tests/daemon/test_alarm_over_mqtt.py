"""A reading over the threshold, published over MQTT, raises an alarm at /api/alarms; a low one clears it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from rules.site import Site
from tests.conftest import free_port, running_service, service_config
from tests.helpers import eventually, get_json, publish, senml

DEVICE = "gas-n01"  # Cl2 + HCl boundary detector in the demo site
SENSOR = "gas-n01-cl2"


async def _raise_and_clear(broker: tuple[str, int], broker_setting: str, db: str, site: Site, unique: str) -> None:
    prefix = f"hwtest-{unique}"
    config = service_config(broker_setting, db, prefix, f"svc-{unique}")
    cl2 = next(s for d in site.devices if d.id == DEVICE for s in d.sensors if s.id == SENSOR)
    assert cl2.levels.high_high is not None
    assert cl2.levels.high is not None
    over = cl2.levels.high_high * 2
    clear_below = cl2.levels.high - cl2.deadband - 0.01
    t0 = time.time() - 60  # device timestamps: the on-delay (10 s) is measured on them
    topic = f"{prefix}/{site.site}/{DEVICE}"
    async with running_service(config, site) as service:
        base = f"http://127.0.0.1:{service.http_port}"
        await publish(broker, [(topic, senml(DEVICE, [("cl2", over, "ppm")], t)) for t in (t0, t0 + 11)])

        async def active_alarms() -> list[dict[str, Any]]:
            rows = (await get_json(f"{base}/api/alarms?state=active"))["alarms"]
            return [r for r in rows if r["sensor_id"] == SENSOR]

        async def both_levels() -> list[dict[str, Any]]:
            rows = await active_alarms()
            return rows if {r["rule"] for r in rows} >= {"site-level-high", "site-level-high-high"} else []

        rows = [r for r in await eventually(both_levels) if r["rule"].startswith("site-level")]
        assert len(rows) == 2
        for row in rows:
            assert row["value"] == pytest.approx(over)
            assert row["raised_at"] == pytest.approx(t0 + 11)
            assert row["state"] == "active_unack"
            assert "above its site" in row["message"]
            assert row["message_zh"]
            assert row["zone"] == "boundary-north"

        # Between high - deadband and high: nothing clears (hysteresis).
        await publish(broker, [(topic, senml(DEVICE, [("cl2", cl2.levels.high - cl2.deadband / 2, "ppm")], t0 + 20))])
        await publish(broker, [(topic, senml(DEVICE, [("cl2", clear_below, "ppm")], t0 + 30))])

        async def cleared() -> list[dict[str, Any]]:
            rows = (await get_json(f"{base}/api/alarms"))["alarms"]
            done = [r for r in rows if r["sensor_id"] == SENSOR and not r["active"] and r["rule"].startswith("site")]
            return done if len(done) == 2 else []

        rows = await eventually(cleared)
        by_rule = {r["rule"]: r for r in rows}
        # high-high clears as soon as the value falls below high_high - deadband (at t0+20); high at t0+30.
        assert by_rule["site-level-high-high"]["cleared_at"] == pytest.approx(t0 + 20)
        assert by_rule["site-level-high"]["cleared_at"] == pytest.approx(t0 + 30)
        # Returned to normal but nobody acknowledged: ISA-18.2 keeps it on the list.
        assert all(r["state"] == "returned_unack" for r in rows)


async def test_alarm_via_machine_mosquitto(
    machine_broker: tuple[str, int], sqlite_url: str, demo_site: Site, unique: str
) -> None:
    """Against the Mosquitto this machine runs."""
    await _raise_and_clear(
        machine_broker, f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, demo_site, unique
    )


async def test_alarm_via_embedded_broker(sqlite_url: str, demo_site: Site, unique: str) -> None:
    """Against the broker hazwatch starts itself."""
    port = free_port()
    await _raise_and_clear(("127.0.0.1", port), f"embedded:127.0.0.1:{port}", sqlite_url, demo_site, unique)


async def test_open_alarm_survives_restart_and_clears_after(
    machine_broker: tuple[str, int], sqlite_url: str, demo_site: Site, unique: str
) -> None:
    """An alarm left open by a stopped service is resumed, not duplicated, and clears on a normal reading."""
    prefix = f"hwtest-{unique}"
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, prefix, f"svc-{unique}")
    topic = f"{prefix}/{demo_site.site}/gamma-04"
    t0 = time.time() - 600
    async with running_service(config, demo_site) as service:
        await publish(
            machine_broker, [(topic, senml("gamma-04", [("dose_rate", 5000.0, "nSv/h")], t)) for t in (t0, t0 + 130)]
        )
        base = f"http://127.0.0.1:{service.http_port}"

        async def site_levels_active() -> list[dict[str, Any]]:
            rows = (await get_json(f"{base}/api/alarms?state=active"))["alarms"]
            return rows if {r["rule"] for r in rows} >= {"site-level-high", "site-level-high-high"} else []

        before = {r["alarm_key"]: r["id"] for r in await eventually(site_levels_active)}
    async with running_service(config, demo_site) as service:
        await publish(machine_broker, [(topic, senml("gamma-04", [("dose_rate", 5000.0, "nSv/h")], t0 + 190))])
        await publish(machine_broker, [(topic, senml("gamma-04", [("dose_rate", 90.0, "nSv/h")], t0 + 250))])
        base = f"http://127.0.0.1:{service.http_port}"

        async def site_levels_cleared() -> list[dict[str, Any]]:
            rows = (await get_json(f"{base}/api/alarms"))["alarms"]
            site_rows = [r for r in rows if r["rule"].startswith("site-level")]
            return rows if len(site_rows) == 2 and all(not r["active"] for r in site_rows) else []

        rows = await eventually(site_levels_cleared)
        # The same episodes (row ids) were resumed from the checkpoint, not raised again.
        assert {r["alarm_key"]: r["id"] for r in rows} == before
        site_rows = [r for r in rows if r["rule"].startswith("site-level")]
        assert [r["cleared_at"] for r in site_rows] == [pytest.approx(t0 + 250)] * 2
