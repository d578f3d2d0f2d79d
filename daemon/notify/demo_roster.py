"""With ``--demo`` every person's first channel is the demo inbox, so the first run shows a page arrive and be
acknowledged without any SMS or voice account."""

from __future__ import annotations

from plans.roster import Channel, Roster


def with_demo_inbox(roster: Roster) -> Roster:
    """The roster with a ``demo_inbox`` channel put first for everyone."""
    people = [
        person.model_copy(update={"channels": [Channel(type="demo_inbox", address=person.id), *person.channels]})
        for person in roster.people
    ]
    return roster.model_copy(update={"people": people})
