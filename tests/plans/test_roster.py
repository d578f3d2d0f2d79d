"""Who is on duty at a given moment (the run's clock, not the wall clock)."""

from __future__ import annotations

import datetime as dt

from plans.roster import Roster

CST = dt.timezone(dt.timedelta(hours=8))


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> float:
    return dt.datetime(year, month, day, hour, minute, tzinfo=CST).timestamp()


def test_day_and_night_duty_officer(roster: Roster) -> None:
    # 2023-11-15 is a Wednesday
    assert [p.id for p in roster.on_duty("duty_officer", at(2023, 11, 15, 9))] == ["zhang-wei"]
    assert [p.id for p in roster.on_duty("duty_officer", at(2023, 11, 15, 19, 59))] == ["zhang-wei"]
    assert [p.id for p in roster.on_duty("duty_officer", at(2023, 11, 15, 20))] == ["li-na"]
    assert [p.id for p in roster.on_duty("duty_officer", at(2023, 11, 16, 7, 59))] == ["li-na"]


def test_weekday_shifts_and_fallback(roster: Roster) -> None:
    assert [p.id for p in roster.on_duty("shift_leader", at(2023, 11, 15, 12))] == ["wang-qiang"]
    assert [p.id for p in roster.on_duty("shift_leader", at(2023, 11, 17, 12))] == ["chen-jing"]  # Friday
    bare = Roster.model_validate(
        {
            "roles": [{"id": "duty_officer", "name": "d"}],
            "people": [
                {"id": "a", "name": "A", "roles": ["duty_officer"], "channels": [{"type": "sms", "address": "x"}]}
            ],
        }
    )
    # no shift covers the moment: everyone holding the role is paged rather than nobody
    assert [p.id for p in bare.on_duty("duty_officer", at(2023, 11, 15, 3))] == ["a"]
