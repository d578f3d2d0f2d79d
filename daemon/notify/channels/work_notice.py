"""A work notification to one person by user id: WeCom application message or DingTalk work notification.

Both APIs take an access token obtained from the app's key and secret and valid ``expires_in`` seconds (7200):
WeCom ``GET /cgi-bin/gettoken?corpid&corpsecret`` then ``POST /cgi-bin/message/send?access_token`` with
``{"touser", "msgtype": "text", "agentid", "text": {"content"}}`` (an unknown user comes back in ``invaliduser``);
DingTalk ``GET /gettoken?appkey&appsecret`` then ``POST /topapi/message/corpconversation/asyncsend_v2?access_token``
with ``{"agent_id", "userid_list", "msg": {"msgtype": "text", "text": {"content"}}}``. Both answer ``errcode`` 0.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from daemon.notify.channels.base import Delivery, DeliveryError, HttpPoster, required_env
from daemon.notify.channels.json_answer import json_answer
from daemon.notify.channels.page_text import page_fields
from daemon.notify.provider_config import DingtalkAppConfig, WecomAppConfig

TOKEN_ERRORS = frozenset({40014, 42001, 40001, 88})  # invalid or expired access token: fetch a new one once
TOKEN_MARGIN_S = 300.0  # renew this long before the token expires


class _TokenCache:
    """One access token, renewed before it expires or when the API says it is no longer valid."""

    def __init__(self) -> None:
        self.token: str | None = None
        self.expires_at = 0.0

    def valid(self, now: float) -> str | None:
        return self.token if self.token is not None and now < self.expires_at else None

    def keep(self, answer: dict[str, Any], now: float) -> str:
        token = answer.get("access_token")
        if answer.get("errcode") != 0 or not isinstance(token, str):
            raise DeliveryError(f"access token refused: {json.dumps(answer, ensure_ascii=False)[:200]}", permanent=True)
        self.token = token
        self.expires_at = now + float(answer.get("expires_in", 7200)) - TOKEN_MARGIN_S
        return token


class _WorkNotice:
    """The shared token dance; subclasses say how to get a token and what to post."""

    provider = ""

    def __init__(self, poster: HttpPoster, environ: Mapping[str, str], utc_offset_h: float) -> None:
        self._poster = poster
        self._environ = environ
        self._utc_offset_h = utc_offset_h
        self._tokens = _TokenCache()

    def token_url(self) -> str:
        raise NotImplementedError

    def send_url(self, token: str) -> str:
        raise NotImplementedError

    def document(self, user_id: str, text: str) -> dict[str, Any]:
        raise NotImplementedError

    async def _token(self, now: float) -> str:
        token = self._tokens.valid(now)
        if token is not None:
            return token
        status, text = await self._poster.request("GET", self.token_url(), None, {})
        return self._tokens.keep(json_answer(self.provider, status, text), now)

    async def send(self, delivery: Delivery) -> None:
        """Post the page text to the user; a stale token is renewed once."""
        fields = page_fields(delivery, self._utc_offset_h, self._environ)
        body = json.dumps(self.document(fields["to"], fields["text"]), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        for _ in range(2):
            url = self.send_url(await self._token(delivery.now))
            status, text = await self._poster.request("POST", url, body, headers)
            answer = json_answer(self.provider, status, text)
            if answer.get("errcode") in TOKEN_ERRORS:
                self._tokens.token = None
                continue
            self.check(answer)
            return
        raise DeliveryError(f"{self.provider}: access token rejected twice")

    def check(self, answer: dict[str, Any]) -> None:
        if answer.get("errcode") != 0:
            raise DeliveryError(f"{self.provider}: rejected: {json.dumps(answer, ensure_ascii=False)[:200]}")

    async def close(self) -> None:
        """The poster is shared."""


class WecomUserChannel(_WorkNotice):
    """WeCom application text message to one user id."""

    provider = "wecom app"

    def __init__(self, poster: HttpPoster, config: WecomAppConfig, environ: Mapping[str, str], utc_offset_h: float):
        super().__init__(poster, environ, utc_offset_h)
        self._config = config

    def token_url(self) -> str:
        query = urllib.parse.urlencode(
            {"corpid": self._config.corp_id, "corpsecret": required_env(self._environ, self._config.corp_secret_env)}
        )
        return f"{self._config.api_base.rstrip('/')}/cgi-bin/gettoken?{query}"

    def send_url(self, token: str) -> str:
        return f"{self._config.api_base.rstrip('/')}/cgi-bin/message/send?access_token={urllib.parse.quote(token)}"

    def document(self, user_id: str, text: str) -> dict[str, Any]:
        return {"touser": user_id, "msgtype": "text", "agentid": self._config.agent_id, "text": {"content": text}}

    def check(self, answer: dict[str, Any]) -> None:
        super().check(answer)
        if answer.get("invaliduser"):
            raise DeliveryError(f"wecom app: unknown user {answer['invaliduser']}", permanent=True)


class DingtalkUserChannel(_WorkNotice):
    """DingTalk work notification (工作通知) to one user id."""

    provider = "dingtalk app"

    def __init__(self, poster: HttpPoster, config: DingtalkAppConfig, environ: Mapping[str, str], utc_offset_h: float):
        super().__init__(poster, environ, utc_offset_h)
        self._config = config

    def token_url(self) -> str:
        query = urllib.parse.urlencode(
            {"appkey": self._config.app_key, "appsecret": required_env(self._environ, self._config.app_secret_env)}
        )
        return f"{self._config.api_base.rstrip('/')}/gettoken?{query}"

    def send_url(self, token: str) -> str:
        base = self._config.api_base.rstrip("/")
        return f"{base}/topapi/message/corpconversation/asyncsend_v2?access_token={urllib.parse.quote(token)}"

    def document(self, user_id: str, text: str) -> dict[str, Any]:
        return {
            "agent_id": self._config.agent_id,
            "userid_list": user_id,
            "msg": {"msgtype": "text", "text": {"content": text}},
        }
