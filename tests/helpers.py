"""Small helpers shared by tests: publishing SenML, polling the HTTP API and the store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import aiomqtt

T = TypeVar("T")


def senml(device: str, records: list[tuple[str, float | bool, str | None]], t: float) -> bytes:
    """A SenML message for one device at time ``t``: records are (name, value, unit)."""
    out: list[dict[str, Any]] = [{"bn": f"{device}:", "bt": t}]
    for name, value, unit in records:
        record: dict[str, Any] = {"n": name}
        if isinstance(value, bool):
            record["vb"] = value
        else:
            record["v"] = value
        if unit is not None:
            record["u"] = unit
        out.append(record)
    return json.dumps(out).encode()


async def publish(broker: tuple[str, int], messages: list[tuple[str, bytes]], qos: int = 1) -> None:
    """Publish messages in order with one client."""
    async with aiomqtt.Client(broker[0], broker[1]) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=qos)


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = 15.0, interval: float = 0.05) -> T:
    """Poll ``probe`` until it returns something truthy; fail with the last value after ``timeout``."""
    last: T | None = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                last = await probe()
                if last:
                    return last
                await asyncio.sleep(interval)
    except TimeoutError:
        raise AssertionError(f"condition not met within {timeout}s; last probe returned {last!r}") from None


async def get_json(url: str) -> Any:
    """GET a JSON document."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        response.raise_for_status()
        return await response.json()
