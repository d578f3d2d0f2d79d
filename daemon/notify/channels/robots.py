"""WeCom (企业微信) and DingTalk (钉钉) group robots: markdown messages to the robot's webhook URL.

WeCom: ``{"msgtype": "markdown", "markdown": {"content": ...}}``.
DingTalk: ``{"msgtype": "markdown", "markdown": {"title": ..., "text": ...}}``; a robot with "signing" enabled needs
``timestamp`` (ms) and ``sign`` = urlencode(base64(HMAC-SHA256(key=secret, msg="timestamp\\nsecret"))) in the URL.
Both answer HTTP 200 with ``errcode`` 0 on success.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Mapping

from daemon.notify.channels.base import Delivery, DeliveryError, HttpPoster, expand, secret
from daemon.notify.render import markdown, render


def robot_errcode(text: str, channel: str) -> None:
    """WeCom and DingTalk answer HTTP 200 with ``{"errcode": N}``; anything but 0 is a failure."""
    try:
        answer = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DeliveryError(f"{channel}: answer is not JSON: {text[:200]}") from exc
    if not isinstance(answer, dict) or answer.get("errcode") != 0:
        raise DeliveryError(f"{channel}: rejected: {text[:200]}")


def dingtalk_sign(timestamp_ms: int, key: str) -> str:
    """The url-encoded ``sign`` parameter for a signed DingTalk robot."""
    digest = hmac.new(key.encode(), f"{timestamp_ms}\n{key}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def signed_url(url: str, timestamp_ms: int, key: str) -> str:
    """``url`` with ``timestamp`` and ``sign`` appended."""
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}timestamp={timestamp_ms}&sign={dingtalk_sign(timestamp_ms, key)}"


class _GroupRobot:
    """What both robots share: the HTTP poster (closed by its owner), the environment for ``${VAR}``, local time."""

    def __init__(self, poster: HttpPoster, environ: Mapping[str, str], utc_offset_h: float) -> None:
        self._poster = poster
        self._environ = environ
        self._utc_offset_h = utc_offset_h

    async def close(self) -> None:
        """Nothing of its own to close."""


class WecomChannel(_GroupRobot):
    """WeCom group robot, markdown message."""

    async def send(self, delivery: Delivery) -> None:
        """Deliver one message; a non-zero errcode is a failure."""
        message = render(delivery.facts, delivery.language, self._utc_offset_h)
        document = {"msgtype": "markdown", "markdown": {"content": markdown(delivery.facts, message, "wecom")}}
        text = await self._poster.post_json(expand(delivery.target.url or "", self._environ), document)
        robot_errcode(text, "wecom")


class DingtalkChannel(_GroupRobot):
    """DingTalk group robot, markdown message, signed when the target names a secret."""

    async def send(self, delivery: Delivery) -> None:
        """Deliver one message; a non-zero errcode is a failure."""
        message = render(delivery.facts, delivery.language, self._utc_offset_h)
        document = {
            "msgtype": "markdown",
            "markdown": {"title": message.title[:60], "text": markdown(delivery.facts, message, "dingtalk")},
        }
        url = expand(delivery.target.url or "", self._environ)
        key = secret(delivery.target, self._environ)
        if key is not None:
            url = signed_url(url, int(delivery.now * 1000), key)
        text = await self._poster.post_json(url, document)
        robot_errcode(text, "dingtalk")
