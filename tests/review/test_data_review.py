"""Tiered data review over the API: marks change the day's ratios, tiers hand the day up and down, all audited;
stored readings are never edited and drill readings never enter the review."""

from __future__ import annotations

import asyncio
import csv
import io
import math
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import numpy as np
import pytest

from daemon.store.reading_chunks import read_readings
from daemon.store.writer import StoreWriter
from daemon.web.api.auth import add_user
from detectors.readings import FLAG_CALIBRATION, ReadingBatch
from rules.site import Site
from tests.conftest import running_service, service_config
from tests.daemon.ingest.hj212_examples import LOGGER_SITE

ZONE = ZoneInfo("Asia/Shanghai")
STATION = "logger-1"  # two sensors, one reading per 30 s expected: 2 x 2880 a day


def day_readings(table_index: dict[str, int], start: float) -> ReadingBatch:
    """so2 every 30 s all day (the first 100 flagged calibration); cl2 every 60 s (half the expected readings)."""
    so2_t = start + 30.0 * np.arange(2880)
    cl2_t = start + 60.0 * np.arange(1440)
    flags = np.zeros(2880 + 1440, np.uint16)
    flags[:100] = FLAG_CALIBRATION
    return ReadingBatch(
        np.concatenate([np.full(2880, table_index["hj.so2"]), np.full(1440, table_index["hj.cl2"])]).astype(np.int32),
        np.concatenate([so2_t, cl2_t]),
        np.concatenate([1 + 0.1 * np.sin(so2_t / 600), 0.1 + 0.01 * np.sin(cl2_t / 600)]),
        flags,
    )


async def test_tiered_review_of_a_station_day(machine_broker: tuple[str, int], sqlite_url: str, unique: str) -> None:
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, f"hw-{unique}", unique)
    site = Site.model_validate(LOGGER_SITE)
    local_day = (datetime.now(ZONE) - timedelta(days=2)).date()
    day = local_day.isoformat()
    start = datetime(local_day.year, local_day.month, local_day.day, tzinfo=ZONE).timestamp()
    async with running_service(config, site) as service:
        base = f"http://127.0.0.1:{service.http_port}/api/review"
        service.writer.add_readings(day_readings(service.table.index, start))
        drill_writer = StoreWriter(service.engine, [s.id for s in service.table.sensors], service.metrics, drill=True)
        drill_task = asyncio.create_task(drill_writer.run())
        drill_writer.add_readings(day_readings(service.table.index, start))  # a replay of the same day
        await drill_writer.flush()
        drill_writer.close()
        await drill_task
        await service.drain()
        now = service.clock.now()
        tokens = {role: await add_user(service.engine, role, role, now) for role in (
            "reviewer_station", "reviewer_centre", "reviewer_bureau", "supervisor",
        )}  # fmt: skip
        async with service.engine.connect() as connection:
            stored_before = await read_readings(connection, drill=None)

        async with aiohttp.ClientSession() as http:

            async def get(path: str) -> Any:
                async with http.get(base + path) as response:
                    assert response.status == 200, await response.text()
                    return await response.json()

            async def post(action: str, role: str | None, body: dict[str, Any], status: int = 200) -> Any:
                headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
                async with http.post(f"{base}/{STATION}/{day}/{action}", json=body, headers=headers) as response:
                    assert response.status == status, await response.text()
                    return await response.json()

            review = await get(f"/{STATION}/{day}")
            assert (review["state"], review["tier"], review["actions"]) == ("not_started", 1, [])
            ratios = review["ratios"]
            assert ratios["capture"] == pytest.approx((2880 + 1440) / 5760)  # the drill's readings do not count
            assert ratios["valid_before"] == pytest.approx((2780 + 1440) / 5760)
            assert ratios["valid_after"] == ratios["valid_before"]
            assert ratios["qc_pass"] is None
            assert len(review["flagged"]) == 100
            assert review["flagged"][0]["flags"] == ["calibration"]

            # Only the tier the day is at may act; others are refused and nothing is recorded.
            await post("invalidate", "reviewer_centre", {"reason_code": "instrument_fault"}, 409)
            await post("invalidate", "supervisor", {"reason_code": "instrument_fault"}, 409)
            await post("invalidate", None, {"reason_code": "instrument_fault"}, 401)
            await post("invalidate", "reviewer_station", {"reason_code": "looked_odd"}, 409)
            await post("invalidate", "reviewer_station", {"reason_code": "other", "from": start - 10}, 400)

            # Station tier: six hours of cl2 are invalid (analyser fault); the calibration readings were checked
            # against the reference and are good data after all; one QC comparison passed, one failed.
            six_hours = {"sensor_id": "hj.cl2", "from": start, "to": start + 6 * 3600}
            await post("invalidate", "reviewer_station", {**six_hours, "reason_code": "instrument_fault",
                                                         "comment": "zero drift, see log book"})  # fmt: skip
            calibration = {"sensor_id": "hj.so2", "from": start, "to": start + 100 * 30}
            await post("confirm", "reviewer_station", {**calibration, "reason_code": "verified_by_comparison"})
            await post("qc", "reviewer_station", {"reason_code": "qc_pass"})
            review = await post("qc", "reviewer_station", {"reason_code": "qc_fail"})
            assert review["ratios"]["valid_before"] == pytest.approx((2780 + 1440) / 5760)
            assert review["ratios"]["valid_after"] == pytest.approx((2880 + 1440 - 360) / 5760)
            assert review["ratios"]["qc_pass"] == 0.5
            assert review["sensors"]["hj.cl2"]["valid_after"] == pytest.approx((1440 - 360) / 2880)

            # Up and down the tiers.
            review = await post("submit", "reviewer_station", {"comment": "day checked"})
            assert (review["tier"], review["state"]) == (2, "in_review")
            await post("invalidate", "reviewer_station", {"reason_code": "other"}, 409)  # no longer theirs
            await post("return", "reviewer_centre", {}, 409)  # a return says why
            review = await post("return", "reviewer_centre", {"comment": "check 14:00-15:00 too"})
            assert review["tier"] == 1
            await post("submit", "reviewer_station", {"comment": "14:00-15:00 is fine"})
            review = await post("approve", "reviewer_centre", {})
            assert review["tier"] == 3
            review = await post("approve", "reviewer_bureau", {"comment": "approved"})
            assert review["state"] == "approved"
            await post("confirm", "reviewer_bureau", {"reason_code": "other"}, 409)  # closed

            trail = [(a["action"], a["role"], a["tier"]) for a in review["actions"]]
            assert trail == [
                ("invalidate", "reviewer_station", 1), ("confirm", "reviewer_station", 1),
                ("qc", "reviewer_station", 1), ("qc", "reviewer_station", 1), ("submit", "reviewer_station", 1),
                ("return", "reviewer_centre", 2), ("submit", "reviewer_station", 1),
                ("approve", "reviewer_centre", 2), ("approve", "reviewer_bureau", 3),
            ]  # fmt: skip
            first = review["actions"][0]
            assert (first["actor"], first["reason_code"], first["comment"]) == (
                "reviewer_station", "instrument_fault", "zero drift, see log book",
            )  # fmt: skip

            rows = (await get(f"/ratios?from={day}"))["rows"]
            by_name = {(r["level"], r["name"]): r for r in rows}
            station_row = by_name[("station", STATION)]
            assert station_row["valid_ratio_after"] == pytest.approx((2880 + 1440 - 360) / 5760)
            assert station_row["review_state"] == "approved"
            assert by_name[("network", "gas_detector")]["captured"] == 2880 + 1440
            async with http.get(f"{base}/ratios?from={day}&period=month&format=csv") as response:
                assert response.status == 200
                assert response.content_type == "text/csv"
                table = list(csv.DictReader(io.StringIO(await response.text())))
            month = {r["level"]: r for r in table}
            assert month["station"]["period"] == day[:7]
            assert float(month["station"]["captured"]) == 2880 + 1440
            days_in_month = float(month["station"]["expected"]) / 5760
            assert math.isclose(days_in_month, 1)  # only the day asked for (from = to)

        async with service.engine.connect() as connection:
            stored_after = await read_readings(connection, drill=None)
        # The review never touched a stored reading.
        assert np.array_equal(stored_before.flags, stored_after.flags)
        assert np.array_equal(stored_before.value, stored_after.value)
