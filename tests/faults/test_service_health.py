"""A task that dies is restarted, counted and reported; /healthz reports stalls and lag; reloads never kill the
service (a bad rule file is a rejected reload, a SIGHUP while starting is queued)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp
import pytest

from daemon.clock import ManualClock
from daemon.health import ServiceHealth
from daemon.service import Service
from rules.site import Site
from tests.conftest import running_service, service_config
from tests.faults.harness import Mosquitto, ServiceProcess
from tests.helpers import eventually, publish, senml


async def _health(service: Service) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{service.http_port}/healthz") as response,
    ):
        return response.status, dict(await response.json())


async def test_a_dead_flush_timer_is_restarted_counted_and_reported(
    own_mosquitto: tuple[str, int], sqlite_url: str, demo_site: Site, unique: str
) -> None:
    """The flush timer fails once: readings still flow, the restart is counted, /healthz says degraded."""
    host, port = own_mosquitto
    config = service_config(f"mqtt://{host}:{port}", sqlite_url, f"hw{unique}", f"svc{unique}")
    config.ingest.decode_workers = 0
    async with running_service(config, demo_site) as service:
        intake = service.intake
        original = intake.flush_if_due
        failures = iter([RuntimeError("a bug in the timer")])

        def flaky() -> None:
            failure = next(failures, None)
            if failure is not None:
                raise failure
            original()

        intake.flush_if_due = flaky  # type: ignore[method-assign]
        now = service.clock.now()
        await publish(
            own_mosquitto, [(f"hw{unique}/demo-park/gamma-01", senml("gamma-01", [("dose_rate", 90.0, None)], now))]
        )

        async def stored() -> float:
            return service.metrics.registry.get_sample_value("hazwatch_ingest_readings_total") or 0.0

        assert await eventually(stored, timeout=20) == 1.0
        assert service.metrics.registry.get_sample_value("hazwatch_task_restarts_total", {"task": "batch-flush"}) == 1
        status, body = await _health(service)
        assert status == 503
        assert body["status"] == "degraded"
        assert "batch-flush" in body["failed_tasks"]  # type: ignore[operator]


async def test_healthz_reports_a_stall_and_the_ingest_lag(
    own_mosquitto: tuple[str, int], sqlite_url: str, demo_site: Site, unique: str
) -> None:
    """Messages waiting and no batch closed for longer than stall_after_s: stalled, with the lag."""
    host, port = own_mosquitto
    config = service_config(f"mqtt://{host}:{port}", sqlite_url, f"hw{unique}", f"svc{unique}")
    config.ingest.decode_workers = 0
    async with running_service(config, demo_site) as service:
        clock = ManualClock(service.clock.now())
        health = ServiceHealth(service.intake, service.writer, service.supervisor, clock, stall_after_s=10.0)
        assert health.check()[0]
        service.intake._raw.append(("hazwatch/demo-park/gamma-01", b"[]", clock.now()))  # a batch nobody closes
        clock.advance(30.0)
        healthy, details = health.check()
        service.intake._raw.clear()
    assert not healthy
    assert details["stalled"] is True
    assert details["messages_waiting"] == 1
    assert details["ingest_lag_s"] == pytest.approx(30.0)


async def test_a_non_utf8_rule_file_is_a_rejected_reload(
    own_mosquitto: tuple[str, int],
    sqlite_url: str,
    demo_site: Site,
    unique: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before: an unhandled UnicodeDecodeError. Now: the reload is rejected with the file and line, rules stay."""
    host, port = own_mosquitto
    config = service_config(f"mqtt://{host}:{port}", sqlite_url, f"hw{unique}", f"svc{unique}")
    config.ingest.decode_workers = 0
    rules = tmp_path / "rules.yaml"
    rules.write_bytes(b"rules:\n  - id: x\n    name: caf\xe9\n")
    async with running_service(config, demo_site) as service:
        before = service.setup
        config.alarms.rule_files = [rules]
        assert service.reload() is False
        assert service.setup is before
    assert "not UTF-8 text: byte 0xe9" in caplog.text
    assert f"{rules}:3" in caplog.text


@pytest.mark.slow
async def test_sighup_while_starting_is_queued_not_fatal(tmp_path: Path, unique: str) -> None:
    """SIGHUP right after the process starts (before: it died of the signal's default action)."""
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    service = ServiceProcess(tmp_path / "service", broker.port, f"hup{unique}")
    try:
        service.start()
        assert service.process is not None
        # As soon as the event loop has its handlers (the first log line comes after them), well before ready.
        await eventually(lambda: _logged(service, "database schema is at"), timeout=60, interval=0.01)
        service.process.send_signal(signal.SIGHUP)
        await service.wait_ready()
        service.process.send_signal(signal.SIGHUP)  # and once ready, a reload as usual
        await eventually(lambda: _logged(service, "reloaded"), timeout=30)
        assert service.terminate() == 0
    finally:
        if service.process is not None and service.process.poll() is None:
            service.kill()
        broker.stop()
    assert "Traceback" not in service.logs()


async def _logged(service: ServiceProcess, text: str) -> bool:
    return text in service.logs()


async def test_healthz_says_degraded_when_unacknowledged_input_fills_the_receive_window(
    own_mosquitto: tuple[str, int], sqlite_url: str, demo_site: Site, unique: str
) -> None:
    """Another connection holds the SQLite write lock: commits wait, so do the broker acknowledgements. When they
    fill most of the receive window the broker queues the rest where the service cannot count it: degraded, with
    the figures. Once the lock is released everything commits and the window empties."""
    import sqlite3

    host, port = own_mosquitto
    config = service_config(f"mqtt://{host}:{port}", sqlite_url, f"hw{unique}", f"svc{unique}")
    config.ingest.decode_workers = 0
    async with running_service(config, demo_site) as service:
        health = ServiceHealth(
            service.intake, service.writer, service.supervisor, service.clock, stall_after_s=60.0, receive_window=10
        )
        assert health.check()[0]
        blocker = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), timeout=30, check_same_thread=False)
        # The write lock: the writer's commits wait, then fail and retry. Taken in a thread: the service shares this
        # event loop, and a commit it has in flight needs the loop to finish and let go of the lock.
        await asyncio.to_thread(blocker.execute, "BEGIN IMMEDIATE")
        try:
            now = service.clock.now()
            messages = [
                (f"hw{unique}/demo-park/gamma-01", senml("gamma-01", [("dose_rate", 90.0, None)], now - 10 + n))
                for n in range(10)
            ]
            await publish(own_mosquitto, messages)

            async def window_full() -> dict[str, object] | None:
                healthy, details = health.check()
                return details if not healthy and details["broker_queues_more"] else None

            details = await eventually(window_full, timeout=20)
        finally:
            blocker.rollback()
            blocker.close()

        async def drained() -> bool:
            return health.check()[0]

        await eventually(drained, timeout=30)
    assert details["unacknowledged_messages"] == 10
    assert details["receive_window"] == 10


async def test_healthz_says_degraded_while_the_data_judged_is_far_behind_its_arrival(
    own_mosquitto: tuple[str, int], sqlite_url: str, demo_site: Site, unique: str
) -> None:
    """A fresh reading teaches the sensor's usual lateness; then readings arriving 600 s after they were taken (a
    queue somewhere upstream of the judging): degraded with the figure; fresh readings again: healthy."""
    host, port = own_mosquitto
    config = service_config(f"mqtt://{host}:{port}", sqlite_url, f"hw{unique}", f"svc{unique}")
    config.ingest.decode_workers = 0
    topic = f"hw{unique}/demo-park/gamma-01"
    async with running_service(config, demo_site) as service:
        health = ServiceHealth(
            service.intake, service.writer, service.supervisor, service.clock, stall_after_s=60.0, behind_degraded_s=10
        )
        await publish(own_mosquitto, [(topic, senml("gamma-01", [("dose_rate", 90.0, None)], time.time() - 0.5))])

        async def judged() -> bool:
            return service.intake.behind_excess_s is not None

        await eventually(judged, timeout=20)
        assert health.check()[0]
        await publish(own_mosquitto, [(topic, senml("gamma-01", [("dose_rate", 90.0, None)], time.time() - 600))])

        async def behind() -> dict[str, object] | None:
            healthy, details = health.check()
            return details if not healthy else None

        details = await eventually(behind, timeout=20)
        await publish(own_mosquitto, [(topic, senml("gamma-01", [("dose_rate", 90.0, None)], time.time()))])

        async def caught_up() -> bool:
            return health.check()[0]

        await eventually(caught_up, timeout=20)
    assert 590 < float(str(details["data_behind_s"])) < 700
    assert 590 < float(str(details["data_later_than_usual_s"])) < 700
