"""A generic HTTP request for an on-premises SMS gateway, a GSM modem server or a call server.

URL, headers and body are templates: ``${VAR}`` comes from the environment (tokens), ``{{field}}`` from the page
(``page_text.page_fields``). Success is a listed HTTP status and, when configured, an expected value at a JSON path
of the answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from daemon.notify.channels.base import Delivery, DeliveryError, HttpPoster, expand
from daemon.notify.channels.page_text import fill, json_path, page_fields
from daemon.notify.provider_config import HttpTemplateConfig

CONTENT_TYPE = {
    "json": "application/json; charset=utf-8",
    "form": "application/x-www-form-urlencoded",
    "raw": "text/plain; charset=utf-8",
}


class HttpTemplateChannel:
    """One request per delivery, built from the configured templates."""

    def __init__(
        self, poster: HttpPoster, config: HttpTemplateConfig, environ: Mapping[str, str], utc_offset_h: float, name: str
    ):
        self._poster = poster
        self._config = config
        self._environ = environ
        self._utc_offset_h = utc_offset_h
        self._name = name

    async def send(self, delivery: Delivery) -> None:
        """Send and judge the answer by status and JSON path."""
        config = self._config
        fields = page_fields(delivery, self._utc_offset_h, self._environ)
        try:
            url = fill(expand(config.url, self._environ), fields, "form")
            headers = {"Content-Type": CONTENT_TYPE[config.body_encoding]}
            headers |= {k: fill(expand(v, self._environ), fields) for k, v in config.headers.items()}
            body = fill(config.body, fields, config.body_encoding).encode() if config.body else None
        except KeyError as exc:
            raise DeliveryError(f"{self._name}: {exc.args[0]}", permanent=True) from exc
        status, text = await self._poster.request(config.method, url, body, headers)
        if status not in config.success_status:
            # 4xx other than throttling says this request will never be accepted; 5xx and 429 may pass later.
            permanent = 400 <= status < 500 and status != 429
            raise DeliveryError(f"{self._name}: HTTP {status}: {text[:200]}", permanent=permanent)
        if config.success_json_path is None:
            return
        try:
            value = json_path(json.loads(text), config.success_json_path)
        except json.JSONDecodeError as exc:
            raise DeliveryError(f"{self._name}: answer is not JSON: {text[:200]}") from exc
        if value is None or str(value) != config.success_value:
            raise DeliveryError(
                f"{self._name}: {config.success_json_path} is {value!r}, not {config.success_value!r}: {text[:200]}",
                permanent=str(value) in config.permanent_values,
            )

    async def close(self) -> None:
        """The poster is shared."""
