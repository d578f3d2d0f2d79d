"""A shared aiohttp session for the HTTP channels, and a POST that turns every failure into DeliveryError."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from daemon.notify.channels.base import DeliveryError
from daemon.redaction import redact


class HttpPoster:
    """Owns one client session (created lazily inside the running loop)."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def request(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, str]:
        """Any request; returns status and text whatever the status; transport errors and time-outs raise."""
        try:
            async with self._client().request(method, url, data=body, headers=headers) as response:
                return response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"{method} {_safe(url)}: {type(exc).__name__}: {exc}") from exc

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """POST ``body``; returns status and text; raises DeliveryError on transport errors or non-2xx."""
        try:
            async with self._client().post(url, data=body, headers=headers) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(redact(f"POST {_safe(url)}: {type(exc).__name__}: {exc}")) from exc
        if not 200 <= status < 300:
            raise DeliveryError(redact(f"POST {_safe(url)}: HTTP {status}: {text[:200]}"))
        return status, text

    async def post_json(self, url: str, document: Any, headers: dict[str, str] | None = None) -> str:
        """POST a JSON document (UTF-8); returns the response text."""
        body = json.dumps(document, ensure_ascii=False).encode()
        _, text = await self.post(url, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})
        return text

    async def close(self) -> None:
        """Close the session."""
        if self._session is not None:
            await self._session.close()


def _safe(url: str) -> str:
    # Robot URLs carry their access token in the query string, others a password or a token in the path: never
    # log them.
    return redact(url.split("?", 1)[0])


def robot_errcode(text: str, channel: str) -> None:
    """WeCom and DingTalk answer HTTP 200 with ``{"errcode": N}``; anything but 0 is a failure."""
    try:
        answer = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DeliveryError(f"{channel}: answer is not JSON: {text[:200]}") from exc
    if not isinstance(answer, dict) or answer.get("errcode") != 0:
        raise DeliveryError(f"{channel}: rejected: {text[:200]}")
