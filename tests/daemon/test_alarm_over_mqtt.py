"""A reading over the threshold, published over MQTT, raises an alarm at /api/alarms; a low one clears it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from detectors.substances import SUBSTANCES
from rules.site import Site
from tests.conftest import free_port, running_service, service_config
from tests.helpers import eventually, get_json, publish, senml

DEVICE = "gas-n01"  # Cl2 + HCl boundary detector in the demo site
SENSOR = "gas-n01-cl2"
LEVEL_RULES = {"cl2-level1", "cl2-level2"}


async def _raise_and_clear(broker: tuple[str, int], broker_setting: str, db: str, site: Site, unique: str) -> None:
    prefix = f"hwtest-{unique}"
    config = service_config(broker_setting, db, prefix, f"svc-{unique}")
    # GB/T 50493 detector levels for Cl2: 100 % and 200 % of the GBZ 2.1 limit; they clear below 90 %.
    level1 = SUBSTANCES["Cl2"].occupational_limit_ppm
    level2 = 2 * level1
    over = 2 * level2
    t0 = time.time() - 60  # device timestamps
    topic = f"{prefix}/{site.site}/{DEVICE}"
    async with running_service(config, site) as service:
        base = f"http://127.0.0.1:{service.http_port}"
        await publish(broker, [(topic, senml(DEVICE, [("cl2", over, "ppm")], t)) for t in (t0, t0 + 11)])

        async def detector_levels(active: bool) -> list[dict[str, Any]]:
            rows = (await get_json(f"{base}/api/alarms"))["alarms"]
            rows = [r for r in rows if r["sensor_id"] == SENSOR and r["rule"] in LEVEL_RULES and r["active"] is active]
            return rows if len(rows) == 2 else []

        rows = await eventually(lambda: detector_levels(active=True))
        for row in rows:
            assert row["level"] == pytest.approx(level2 if row["rule"] == "cl2-level2" else level1)
            assert row["value"] == pytest.approx(over)
            assert row["raised_at"] == pytest.approx(t0)
            assert row["state"] == "active_unack"
            assert row["zone"] == "boundary-north"
            assert "chlorine" in row["message"]
            assert "氯气" in row["message_zh"]

        # Between 90 % of level 1 and level 1: level 2 clears, level 1 holds (deadband).
        await publish(broker, [(topic, senml(DEVICE, [("cl2", 0.95 * level1, "ppm")], t0 + 20))])
        await publish(broker, [(topic, senml(DEVICE, [("cl2", 0.5 * level1, "ppm")], t0 + 30))])
        rows = await eventually(lambda: detector_levels(active=False))
        by_rule = {r["rule"]: r for r in rows}
        assert by_rule["cl2-level2"]["cleared_at"] == pytest.approx(t0 + 20)
        assert by_rule["cl2-level1"]["cleared_at"] == pytest.approx(t0 + 30)
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
    """An alarm left open by a stopped service is resumed from the checkpoint, not duplicated, and clears later."""
    prefix = f"hwtest-{unique}"
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, prefix, f"svc-{unique}")
    topic = f"{prefix}/{demo_site.site}/{DEVICE}"
    level1 = SUBSTANCES["Cl2"].occupational_limit_ppm
    t0 = time.time() - 600

    async def levels(base: str) -> dict[str, dict[str, Any]]:
        rows = (await get_json(f"{base}/api/alarms"))["alarms"]
        return {r["rule"]: r for r in rows if r["sensor_id"] == SENSOR and r["rule"] in LEVEL_RULES}

    async with running_service(config, demo_site) as service:
        await publish(machine_broker, [(topic, senml(DEVICE, [("cl2", 4 * level1, "ppm")], t0))])
        base = f"http://127.0.0.1:{service.http_port}"

        async def both_active() -> dict[str, dict[str, Any]]:
            rows = await levels(base)
            return rows if len(rows) == 2 and all(r["active"] for r in rows.values()) else {}

        before = {rule: row["id"] for rule, row in (await eventually(both_active)).items()}
    async with running_service(config, demo_site) as service:
        await publish(machine_broker, [(topic, senml(DEVICE, [("cl2", 0.1 * level1, "ppm")], t0 + 30))])
        base = f"http://127.0.0.1:{service.http_port}"

        async def both_cleared() -> dict[str, dict[str, Any]]:
            rows = await levels(base)
            return rows if len(rows) == 2 and not any(r["active"] for r in rows.values()) else {}

        after = await eventually(both_cleared)
        # The same episodes (row ids) were resumed from the checkpoint, not raised again.
        assert {rule: row["id"] for rule, row in after.items()} == before
        assert [row["cleared_at"] for row in after.values()] == [pytest.approx(t0 + 30)] * 2
