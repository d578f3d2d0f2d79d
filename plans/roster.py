"""The duty roster: people, their roles and channels, and who is on duty at a given moment."""

from __future__ import annotations

import datetime as dt
import re

from pydantic import Field, field_validator

from rules.strict import FrozenModel

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class Channel(FrozenModel):
    """How to reach a person. Addresses are placeholders resolved by the notifier from the environment."""

    type: str = Field(
        description="Channel type: phone, sms, email, wecom_user, dingtalk_user, webhook, ... (the daemon's channel "
        "registry lists them; check-config rejects an unknown one).",
        pattern=r"^[a-z][a-z0-9_]*$",
    )
    address: str = Field(description="Address or `${ENV_VAR}` placeholder; never a committed secret.")


class Role(FrozenModel):
    """A duty role the plan can page."""

    id: str = Field(description="Role id used by plans.", pattern=r"^[a-z0-9][a-z0-9_]*$")
    name: str = Field(description="Role title.")


class Person(FrozenModel):
    """Someone who can be paged."""

    id: str = Field(description="Person id.", pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    name: str = Field(description="Full name.")
    roles: list[str] = Field(description="Roles this person can hold.")
    channels: list[Channel] = Field(min_length=1, description="Channels, most preferred first.")


class Shift(FrozenModel):
    """A recurring duty shift; a shift whose end is not after its start runs past midnight."""

    role: str = Field(description="Role held during the shift.")
    person: str = Field(description="Person id.")
    days: list[int] = Field(
        default_factory=lambda: list(range(7)), description="Weekdays the shift starts on, Monday = 0."
    )
    start: str = Field(description="Local start time HH:MM.")
    end: str = Field(description="Local end time HH:MM.")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"expected HH:MM, got {value!r}")
        return value

    @field_validator("days")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if any(not 0 <= d <= 6 for d in value):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return value

    def covers(self, local: dt.datetime) -> bool:
        """Whether the shift is on at this local time."""
        minute = local.hour * 60 + local.minute
        start, end = _minutes(self.start), _minutes(self.end)
        weekday = local.weekday()
        if start < end:
            return weekday in self.days and start <= minute < end
        return (weekday in self.days and minute >= start) or ((weekday - 1) % 7 in self.days and minute < end)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class Roster(FrozenModel):
    """The duty roster of the emergency centre."""

    utc_offset_h: float = Field(8.0, description="Local time offset from UTC (China Standard Time is +8, no DST).")
    roles: list[Role] = Field(min_length=1, description="Roles.")
    people: list[Person] = Field(min_length=1, description="People.")
    shifts: list[Shift] = Field(default_factory=list, description="Recurring shifts.")

    def person(self, person_id: str) -> Person:
        """A person by id."""
        return next(p for p in self.people if p.id == person_id)

    def on_duty(self, role: str, now: float) -> list[Person]:
        """People holding ``role`` at ``now`` (the run's clock: wall time live, drill time in drills).

        Without a shift covering ``now`` everyone who can hold the role is returned, so a page is never lost.
        """
        local = dt.datetime.fromtimestamp(now, dt.timezone(dt.timedelta(hours=self.utc_offset_h)))
        ids = [s.person for s in self.shifts if s.role == role and s.covers(local)]
        if not ids:
            ids = [p.id for p in self.people if role in p.roles]
        seen: dict[str, Person] = {}
        for person_id in ids:
            seen.setdefault(person_id, self.person(person_id))
        return list(seen.values())
