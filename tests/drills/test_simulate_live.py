"""``hazwatch simulate SCENARIO --broker URL`` publishes the scenario live, at real speed, shifted to now."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import aiomqtt
import pytest

from daemon.config import DEFAULT_SITE
from daemon.site_file import load_site
from tests.helpers import eventually, publish

SPAN_S = 4


def _scenario(path: Path, prefix: str) -> Path:
    """A few seconds of the demo park at one report per second, under a topic prefix of this test's own."""
    path.write_text(
        f"""
name: tiny-live
site_file: {DEFAULT_SITE}
seed: 3
start: 2024-06-03T09:00:00+08:00
duration_s: {SPAN_S}
report_interval_s: 1
topic_prefix: {prefix}
weather:
  - {{at_s: 0, wind_speed_m_s: 3.0, wind_from_deg: 185, stability: D, temperature_c: 24}}
""",
        encoding="utf-8",
    )
    return path


@pytest.mark.slow
async def test_simulate_publishes_live_at_real_speed(
    machine_broker: tuple[str, int], tmp_path: Path, unique: str
) -> None:
    prefix = f"hwtest-{unique}"
    site = load_site(DEFAULT_SITE)
    scenario = _scenario(tmp_path / "tiny.yaml", prefix)
    arrived: list[tuple[float, str, bytes]] = []
    host, port = machine_broker
    async with aiomqtt.Client(host, port, identifier=f"sub-{unique}") as client:
        await client.subscribe(f"{prefix}/#", qos=1)

        async def listen() -> None:
            async for message in client.messages:
                payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
                arrived.append((time.time(), str(message.topic), payload))

        listener = asyncio.create_task(listen())
        started = time.time()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "daemon.cli", "simulate", str(scenario), "--broker", f"mqtt://{host}:{port}",
            cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, output.decode()
        sent = int(output.decode().split("published ")[1].split()[0])

        async def all_arrived() -> bool:  # QoS 1 deliveries may still be on the way to this subscriber
            return len(arrived) >= sent

        await eventually(all_arrived)
        listener.cancel()

    status = [(topic, payload) for _, topic, payload in arrived if topic.endswith("/status")]
    readings = [(at, topic, json.loads(payload)) for at, topic, payload in arrived if not topic.endswith("/status")]
    assert len(arrived) == sent
    assert {topic for topic, _ in status} == {f"{prefix}/{site.site}/{d.id}/status" for d in site.devices}
    assert {payload for _, payload in status} == {b"online"}
    assert {topic for _, topic, _ in readings} == {f"{prefix}/{site.site}/{d.id}" for d in site.devices}
    # Shifted to now: devices stamp their own clock, so base times are today's, not the scenario's 2024 start.
    assert all(abs(document[0]["bt"] - started) < SPAN_S + 30 for _, _, document in readings)
    # Real speed: the span of the scenario passes on the wall between the first and the last reading.
    spread = readings[-1][0] - readings[0][0]
    assert SPAN_S - 2.5 <= spread <= SPAN_S + 10
    # The device status messages are retained (as real devices' are): clear them from the machine's broker.
    await publish(machine_broker, [(f"{prefix}/{site.site}/{d.id}/status", b"") for d in site.devices])
