"""The one list of channel types: what each needs as a destination, who may carry it, and how its sender is built.

Adding a channel type is one entry here (plus its module and its test). Config validation, check-config, the roster
check and the delivery worker all read this table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from daemon.notify.channels.alertmanager import AlertmanagerChannel
from daemon.notify.channels.aliyun_sms import AliyunSmsChannel
from daemon.notify.channels.aliyun_voice import AliyunVoiceChannel
from daemon.notify.channels.base import Channel, HttpPoster
from daemon.notify.channels.demo_inbox import DemoInbox, DemoInboxChannel
from daemon.notify.channels.http_template import HttpTemplateChannel
from daemon.notify.channels.robots import DingtalkChannel, WecomChannel
from daemon.notify.channels.smtp import SmtpChannel
from daemon.notify.channels.tencent_sms import TencentSmsChannel
from daemon.notify.channels.tencent_voice import TencentVoiceChannel
from daemon.notify.channels.webhook import WebhookChannel
from daemon.notify.channels.work_notice import DingtalkUserChannel, WecomUserChannel
from daemon.notify.config import NotifyConfig


@dataclass(frozen=True, slots=True)
class SenderContext:
    """What a sender is built from."""

    poster: HttpPoster
    environ: Mapping[str, str]
    config: NotifyConfig
    demo_inbox: DemoInbox | None = None  # --demo: the in-memory inbox behind /demo/inbox

    @property
    def offset(self) -> float:
        """Local time offset of the texts."""
        return self.config.utc_offset_h


@dataclass(frozen=True, slots=True)
class ChannelKind:
    """One channel type."""

    name: str
    destination: Literal["url", "address", "none"]  # the ChannelTarget field that says where
    for_people: bool  # may stand on a person's roster entry (a phone, a user id, an address)
    build: Callable[[SenderContext], Channel | None] | None  # None: no sender in the worker (console shows it)
    description: str


def _sms(context: SenderContext) -> Channel | None:
    providers, environ, offset, poster = context.config.providers, context.environ, context.offset, context.poster
    if providers.sms == "aliyun" and providers.aliyun_sms is not None:
        return AliyunSmsChannel(poster, providers.aliyun_sms, environ, offset)
    if providers.sms == "tencent" and providers.tencent_sms is not None:
        return TencentSmsChannel(poster, providers.tencent_sms, environ, offset)
    if providers.sms == "http" and providers.http_sms is not None:
        return HttpTemplateChannel(poster, providers.http_sms, environ, offset, "sms gateway")
    return None


def _voice(context: SenderContext) -> Channel | None:
    providers, environ, offset, poster = context.config.providers, context.environ, context.offset, context.poster
    if providers.voice == "aliyun" and providers.aliyun_voice is not None:
        return AliyunVoiceChannel(poster, providers.aliyun_voice, environ, offset)
    if providers.voice == "tencent" and providers.tencent_voice is not None:
        return TencentVoiceChannel(poster, providers.tencent_voice, environ, offset)
    if providers.voice == "http" and providers.http_voice is not None:
        return HttpTemplateChannel(poster, providers.http_voice, environ, offset, "call server")
    return None


def _wecom_user(context: SenderContext) -> Channel | None:
    app = context.config.providers.wecom_app
    return None if app is None else WecomUserChannel(context.poster, app, context.environ, context.offset)


def _dingtalk_user(context: SenderContext) -> Channel | None:
    app = context.config.providers.dingtalk_app
    return None if app is None else DingtalkUserChannel(context.poster, app, context.environ, context.offset)


def _demo_inbox(context: SenderContext) -> Channel | None:
    if context.demo_inbox is None:
        return None
    return DemoInboxChannel(context.demo_inbox, context.environ, context.offset)


CHANNEL_KINDS: dict[str, ChannelKind] = {
    kind.name: kind
    for kind in (
        ChannelKind(
            "webhook",
            "url",
            True,
            lambda c: WebhookChannel(c.poster, c.environ, c.offset),
            "JSON POST, optionally HMAC-SHA256 signed",
        ),
        ChannelKind(
            "alertmanager",
            "url",
            False,
            lambda c: AlertmanagerChannel(c.poster, c.environ, c.offset),
            "Alertmanager v2 API",
        ),
        ChannelKind(
            "email", "address", True, lambda c: SmtpChannel(c.config.smtp, c.environ, c.offset), "e-mail via SMTP"
        ),
        ChannelKind("wecom", "url", False, lambda c: WecomChannel(c.poster, c.environ, c.offset), "WeCom group robot"),
        ChannelKind(
            "dingtalk", "url", False, lambda c: DingtalkChannel(c.poster, c.environ, c.offset), "DingTalk group robot"
        ),
        ChannelKind("sms", "address", True, _sms, "SMS to a mobile number (providers.sms)"),
        ChannelKind("phone", "address", True, _voice, "voice call with text-to-speech (providers.voice)"),
        ChannelKind("wecom_user", "address", True, _wecom_user, "WeCom application message to a user id"),
        ChannelKind("dingtalk_user", "address", True, _dingtalk_user, "DingTalk work notification to a user id"),
        ChannelKind("console", "none", True, None, "the duty console (delivered when shown, acknowledged there)"),
        ChannelKind("demo_inbox", "address", True, _demo_inbox, "the demo inbox page /demo/inbox (--demo only)"),
    )
}


def build_senders(context: SenderContext) -> dict[str, Channel]:
    """Every channel type that has a configured sender."""
    senders: dict[str, Channel] = {}
    for kind in CHANNEL_KINDS.values():
        sender = kind.build(context) if kind.build is not None else None
        if sender is not None:
            senders[kind.name] = sender
    return senders


def undeliverable_reason(channel: str, senders: Mapping[str, Channel]) -> str | None:
    """Why no sender can deliver a row of this channel type, or None when one can (or the console shows it)."""
    kind = CHANNEL_KINDS.get(channel)
    if kind is None:
        return f"unknown channel type {channel!r}"
    if kind.build is None or channel in senders:
        return None
    if channel == "sms":
        return "no SMS sender configured (notify.providers.sms)"
    if channel == "phone":
        return "no voice-call sender configured (notify.providers.voice)"
    if channel == "demo_inbox":
        return "the demo inbox exists only with --demo"
    return f"no {channel} sender configured (notify.providers.{channel.removesuffix('_user')}_app)"
