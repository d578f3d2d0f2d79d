"""The demo inbox: with ``--demo`` every person's first channel, kept in memory and shown at ``/demo/inbox``.

It shows the SMS and call texts a real deployment would send, so a newcomer sees the whole chain from a reading to
an acknowledged page without any provider account.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from daemon.notify.channels.base import Delivery
from daemon.notify.channels.page_text import page_fields

KEEP = 200  # newest messages kept


@dataclass(frozen=True, slots=True)
class InboxMessage:
    """One page as the person's phone would have shown and read it."""

    time: float
    person: str
    sms: str
    call: str
    link: str
    code: str


class DemoInbox:
    """The newest messages, newest first."""

    def __init__(self) -> None:
        self.messages: deque[InboxMessage] = deque(maxlen=KEEP)

    def add(self, message: InboxMessage) -> None:
        """Keep a message."""
        self.messages.appendleft(message)


class DemoInboxChannel:
    """Always delivers: into the inbox."""

    def __init__(self, inbox: DemoInbox, environ: Mapping[str, str], utc_offset_h: float) -> None:
        self.inbox = inbox
        self._environ = environ
        self._utc_offset_h = utc_offset_h

    async def send(self, delivery: Delivery) -> None:
        """Render the SMS and call texts and keep them."""
        fields = page_fields(delivery, self._utc_offset_h, self._environ)
        person = str(delivery.extra.get("person") or delivery.recipient)
        self.inbox.add(
            InboxMessage(delivery.now, person, fields["text"], fields["voice"], fields["link"], fields["code"])
        )

    async def close(self) -> None:
        """Nothing to close."""
