"""The id ranges of the rows the service numbers itself: live and each drill run number apart, on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import insert

from daemon.store import queries
from daemon.store.engine import create_engine
from daemon.store.row_ids import RUN_SPAN, IdRange, IdRangeExhaustedError, RowIds
from daemon.store.schema import alarms


def _alarm(row_id: int, *, drill: bool) -> dict[str, object]:
    return {"id": row_id, "rule": "r", "sensor_id": "s", "device_id": "d", "site": "x", "zone": "z", "kind": "gas",
            "priority": "low", "state": "normal", "raised_at": 1.0, "updated_at": 1.0, "drill": drill}  # fmt: skip


async def test_a_restarted_service_numbers_on_below_the_drill_runs(migrated_db_url: str) -> None:
    engine = create_engine(migrated_db_url)
    try:
        assert (await queries.next_ids(engine))["alarms"] == 1
        assert (await queries.next_ids(engine, IdRange.drill_run(3)))["alarms"] == 3 * RUN_SPAN + 1
        async with engine.begin() as connection:
            await connection.execute(
                insert(alarms),
                [_alarm(41, drill=False), _alarm(3 * RUN_SPAN + 7, drill=True), _alarm(RUN_SPAN + 2, drill=True)],
            )
        ids = await queries.next_ids(engine)
        assert ids["alarms"] == 42  # not past the drills' rows
        assert ids["incidents"] == 1
        assert (await queries.next_ids(engine, IdRange.drill_run(3)))["alarms"] == 3 * RUN_SPAN + 8
        assert (await queries.next_ids(engine, IdRange.drill_run(2)))["alarms"] == 2 * RUN_SPAN + 1
    finally:
        await engine.dispose()


def test_ranges_are_disjoint_and_exact_in_javascript() -> None:
    live, first, second = IdRange.live(), IdRange.drill_run(1), IdRange.drill_run(2)
    assert live.last < first.first <= first.last < second.first
    assert IdRange.drill_run(9_000_000).last < 2**53  # the console reads ids as JavaScript numbers
    with pytest.raises(ValueError, match="start at 1"):
        IdRange.drill_run(0)


def test_an_exhausted_range_fails_loudly_instead_of_colliding() -> None:
    ids = RowIds("alarms", 9, IdRange(1, 10))
    assert [ids.take(), ids.take()] == [9, 10]
    with pytest.raises(IdRangeExhaustedError, match="no alarms ids left"):
        ids.take()
