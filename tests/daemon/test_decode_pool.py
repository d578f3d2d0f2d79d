"""Big batches decoded in a worker process: same result as in place, in order, nothing lost when a worker dies."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import numpy as np
import pytest
import sqlalchemy as sa

from daemon.chain import build
from daemon.ingest.decode_pool import DecodePool, DecoderSpec, RawMessage, decode_messages
from daemon.store.reading_chunks import decode_chunk, read_readings
from daemon.store.schema import quarantine, reading_chunks
from rules.site import Site
from tests.conftest import running_service, service_config
from tests.helpers import eventually, publish, senml


def mixed_messages(site: Site, prefix: str, n: int, t0: float) -> list[tuple[str, bytes]]:
    """Readings from several devices, with a malformed payload and a status message now and then."""
    out = []
    for i in range(n):
        device = f"gamma-{i % 5 + 1:02d}"
        topic = f"{prefix}/{site.site}/{device}"
        if i % 50 == 7:
            out.append((topic, b'{"not": "senml"'))
        elif i % 50 == 9:
            out.append((f"{topic}/status", b"online"))
        else:
            out.append((topic, senml(device, [("dose_rate", 80.0 + i % 11, "nSv/h")], t0 + i)))
    return out


async def test_a_worker_decodes_exactly_what_the_service_would(demo_site: Site) -> None:
    spec = DecoderSpec(demo_site, "hazwatch", 4096, 300.0, 7 * 86400.0)
    now = time.time()
    raw: list[RawMessage] = [(t, p, now) for t, p in mixed_messages(demo_site, "hazwatch", 400, now - 500)]
    raw.append(("hazwatch/demo-park/ghost", json.dumps([{"n": "x", "v": 1}]).encode(), now))
    pool = DecodePool(spec, 1)
    try:
        in_worker = await pool.submit(raw)
    finally:
        await pool.close()
    in_place = decode_messages(spec.build(), raw)
    for column in ("sensor", "time", "value", "flags"):
        np.testing.assert_array_equal(getattr(in_worker.readings, column), getattr(in_place.readings, column))
    assert in_worker.rejections == in_place.rejections
    assert [r.reason.value for _, r in in_worker.rejections].count("invalid_json") == 8
    assert in_worker.rejections[-1][0] == len(raw) - 1  # points at the message it explains
    assert in_worker.statuses == in_place.statuses
    assert len(in_worker.statuses) == 8


@pytest.mark.slow  # a worker process killed and replaced under a running service: about 3 CPU-s
async def test_a_backlog_goes_through_the_worker_in_order_and_survives_a_killed_worker(
    machine_broker: tuple[str, int], sqlite_url: str, demo_site: Site, unique: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every reading is stored in time order, every bad payload quarantined, also after the worker is killed."""
    prefix = f"hwtest-{unique}"
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, prefix, f"svc-{unique}")
    config.ingest.decode_workers = 1
    config.ingest.decode_offload_min_messages = 10  # small batches too, so this backlog takes many trips
    async with running_service(config, demo_site):
        pass  # creates the persistent session
    t0 = time.time() - 5000
    await publish(machine_broker, mixed_messages(demo_site, prefix, 1000, t0), qos=1)
    async with running_service(config, demo_site) as service:
        pool = service.intake._pool
        assert pool is not None

        async def stored(n: int) -> int:
            async def count() -> int:
                await service.drain()
                async with service.engine.connect() as connection:
                    stored = len(await read_readings(connection))
                return stored if stored >= n else 0

            return await eventually(count, timeout=60)

        assert await stored(960) == 960
        killed = set(pool._executor._processes)
        old_executor = pool._executor
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        await publish(machine_broker, mixed_messages(demo_site, prefix, 1000, t0 + 1000), qos=1)
        assert await stored(1920) == 1920  # decoded in place meanwhile
        assert "decoding a batch of" in caplog.text
        assert pool._executor is not old_executor  # replaced
        service.intake._pool_retry_at = 0.0  # rather than wait the 30 s before workers are tried again
        await publish(machine_broker, mixed_messages(demo_site, prefix, 1000, t0 + 2000), qos=1)
        assert await stored(2880) == 2880
        assert set(pool._executor._processes)
        assert not set(pool._executor._processes) & killed  # the new worker took over
        async with service.engine.connect() as connection:
            chunks = (await connection.execute(sa.select(reading_chunks).order_by(reading_chunks.c.id))).all()
            bad = (await connection.execute(quarantine.select())).all()
        online = service.intake.device_online
    # Chunks in the order they were written, unsorted: the pipeline saw the readings in the order they were sent.
    arrival = np.concatenate([decode_chunk(c.format, c.sensors, c.data, c._mapping["count"]).time for c in chunks])
    assert arrival.tolist() == [t0 + i for i in range(3000) if i % 50 not in (7, 9)]
    assert [row.reason for row in bad] == ["invalid_json"] * 60
    assert online == {demo_site.devices.index(next(d for d in demo_site.devices if d.id == "gamma-05")): True}


def test_a_platform_without_worker_processes_decodes_in_place(
    demo_site: Site, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No /dev/shm (some containers): the service starts anyway and says it decodes in its own process."""

    def refuse(*_args: object) -> DecodePool:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(build, "DecodePool", refuse)
    spec = DecoderSpec(demo_site, "hazwatch", 4096, 300.0, 7 * 86400.0)
    assert build._decode_pool(spec, 1) is None
    assert "decoded in the service process" in caplog.text
    assert build._decode_pool(spec, 0) is None


async def test_closing_the_pool_lets_the_event_loop_run_while_the_workers_stop(demo_site: Site) -> None:
    """A stop soon after the start found the workers still starting, and the blocking shutdown held the loop (a
    4.5 s stop in a suite run, nothing else served meanwhile)."""
    spec = DecoderSpec(demo_site, "hazwatch", 4096, 300.0, 7 * 86400.0)
    pool = DecodePool(spec, 2)
    pool.start()  # the workers are starting
    closed = False

    async def close() -> None:
        nonlocal closed
        await pool.close()
        closed = True

    async def other() -> bool:
        return not closed  # runs while the pool closes only if close gave the loop back

    closing = asyncio.create_task(close())
    assert await asyncio.create_task(other())
    await closing
    assert closed


async def test_workers_that_do_not_stop_in_time_are_killed(demo_site: Site) -> None:
    spec = DecoderSpec(demo_site, "hazwatch", 4096, 300.0, 7 * 86400.0)
    pool = DecodePool(spec, 2)
    await asyncio.gather(*pool.start())  # both workers up
    processes = list(pool._executor._processes.values())
    assert len(processes) == 2
    await pool.close(timeout_s=0.0)  # no time at all: the kill path
    for process in processes:
        process.join(timeout=10)
        assert not process.is_alive()
