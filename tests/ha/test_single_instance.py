"""``[ha] enabled`` without a lock to share (SQLite) and a lone instance on PostgreSQL both lead at once."""

from __future__ import annotations

from daemon.notify.config import NotifyConfig
from rules.site import Site
from tests.conftest import running_service, service_config


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
