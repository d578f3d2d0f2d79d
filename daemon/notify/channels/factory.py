"""Build every configured channel from the registry; one shared HTTP session for the HTTP-based ones."""

from __future__ import annotations

from collections.abc import Mapping

from daemon.notify.channels.base import Channel, HttpPoster
from daemon.notify.channels.demo_inbox import DemoInbox
from daemon.notify.channels.registry import SenderContext, build_senders
from daemon.notify.config import NotifyConfig


class ChannelSet:
    """The channels by type name, and what must be closed at shutdown."""

    def __init__(self, config: NotifyConfig, environ: Mapping[str, str], demo_inbox: DemoInbox | None = None) -> None:
        self._poster = HttpPoster(config.request_timeout_s)
        context = SenderContext(self._poster, environ, config, demo_inbox)
        self.channels: dict[str, Channel] = build_senders(context)

    async def close(self) -> None:
        """Close the shared HTTP session."""
        for channel in self.channels.values():
            await channel.close()
        await self._poster.close()
