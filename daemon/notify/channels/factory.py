"""Build every channel from the notify config; one shared HTTP session for the HTTP-based ones."""

from __future__ import annotations

from collections.abc import Mapping

from daemon.notify.channels.alertmanager import AlertmanagerChannel
from daemon.notify.channels.base import Channel
from daemon.notify.channels.http_base import HttpPoster
from daemon.notify.channels.robots import DingtalkChannel, WecomChannel
from daemon.notify.channels.smtp import SmtpChannel
from daemon.notify.channels.webhook import WebhookChannel
from daemon.notify.config import NotifyConfig


class ChannelSet:
    """The channels by type name, and what must be closed at shutdown."""

    def __init__(self, config: NotifyConfig, environ: Mapping[str, str]) -> None:
        self._poster = HttpPoster(config.request_timeout_s)
        offset = config.utc_offset_h
        self.channels: dict[str, Channel] = {
            "webhook": WebhookChannel(self._poster, environ, offset),
            "alertmanager": AlertmanagerChannel(self._poster, environ, offset),
            "wecom": WecomChannel(self._poster, environ, offset),
            "dingtalk": DingtalkChannel(self._poster, environ, offset),
            "email": SmtpChannel(config.smtp, environ, offset),
        }

    async def close(self) -> None:
        """Close the shared HTTP session."""
        for channel in self.channels.values():
            await channel.close()
        await self._poster.close()
