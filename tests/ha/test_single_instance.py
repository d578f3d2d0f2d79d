"""``[ha] enabled`` without a lock to share (SQLite) and a lone instance on PostgreSQL both lead at once."""

from __future__ import annotations

import aiohttp

from daemon.notify.config import NotifyConfig
from rules.site import Site
from tests.conftest import running_service, service_config
from tests.helpers import eventually


async def test_on_sqlite_the_only_instance_leads(
    machine_broker: tuple[str, int], sqlite_url: str, demo_site: Site, unique: str
) -> None:
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, f"hw-{unique}", unique)
    config.ha.enabled = True
    config.notify = NotifyConfig()
    async with running_service(config, demo_site) as service:
        assert service.ha is None
        assert service.writer.hold is None  # commits like a service without [ha]
        assert service.supervisor.running("notify-worker")  # pages go out


async def test_a_lone_instance_on_postgres_takes_the_lock_at_start(
    machine_broker: tuple[str, int], postgres_url: str, demo_site: Site, unique: str
) -> None:
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", postgres_url, f"hw-{unique}", unique)
    config.ha.enabled = True
    config.ha.lock_key = hash(unique) % 2**31
    async with running_service(config, demo_site) as service:
        assert service.ha is not None
        assert service.ha.leader
        assert service.writer.hold is not None
        assert not service.writer.hold.holding  # writes commit
        assert service.supervisor.running("notify-worker")


async def test_a_failed_leadership_check_is_restarted_counted_and_shown_on_healthz(
    machine_broker: tuple[str, int], postgres_url: str, demo_site: Site, unique: str
) -> None:
    """Issue 17: background tasks are supervised. Before, the pair's two tasks were bare tasks: an error outside what
    a check catches ended leadership checks silently (the leader would never learn it lost the lock) while /healthz
    said "ok". Now the task is restarted and counted, /healthz names it, and the instance still leads."""
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", postgres_url, f"hw-{unique}", unique)
    config.ha.enabled = True
    config.ha.lock_key = hash(unique) % 2**31
    async with running_service(config, demo_site) as service:
        pair = service.ha
        assert pair is not None
        assert pair.leader
        leadership = pair.leadership
        real_check = leadership.check
        failures = 0

        async def check_failing_once() -> None:
            nonlocal failures
            if failures == 0:
                failures += 1
                raise RuntimeError("leadership check broke")
            await real_check()

        leadership.check = check_failing_once  # type: ignore[method-assign]

        async def restarted() -> bool:
            return pair.supervisor.health["ha-leadership"].restarts == 1 and pair.supervisor.running("ha-leadership")

        await eventually(restarted, timeout=20)
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{service.http_port}/healthz") as got:
            status, health = got.status, await got.json()
        assert status == 503
        assert "leadership check broke" in health["failed_tasks"]["ha-leadership"]

        async def leads_again() -> bool:
            return pair.leader and failures == 1 and leadership.fence.epoch is not None

        await eventually(leads_again, timeout=20)
