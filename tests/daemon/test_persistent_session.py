"""Readings published while the service is down are delivered when it returns (QoS 1, persistent session)."""

from __future__ import annotations

import time

from daemon.store.reading_chunks import count_readings, read_readings
from rules.site import Site
from tests.conftest import running_service, service_config
from tests.helpers import eventually, publish, senml

N_READINGS = 1000


async def test_readings_published_while_down_are_stored(
    machine_broker: tuple[str, int], sqlite_url: str, demo_site: Site, unique: str
) -> None:
    """Start, stop, publish 1,000 readings at QoS 1, start again: all 1,000 are stored."""
    prefix = f"hwtest-{unique}"
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, prefix, f"svc-{unique}")
    async with running_service(config, demo_site):
        pass  # the first run creates the broker-side session and its subscription

    t0 = time.time() - 2 * N_READINGS
    topic = f"{prefix}/{demo_site.site}/gamma-01"
    messages = [(topic, senml("gamma-01", [("dose_rate", 90.0 + i % 7, "nSv/h")], t0 + i)) for i in range(N_READINGS)]
    await publish(machine_broker, messages, qos=1)

    async with running_service(config, demo_site) as service:

        async def stored() -> int:
            await service.drain()
            async with service.engine.connect() as connection:
                count = await count_readings(connection)
            return count if count >= N_READINGS else 0

        assert await eventually(stored, timeout=30) == N_READINGS
        async with service.engine.connect() as connection:
            times = (await read_readings(connection)).time.tolist()
        assert times == [t0 + i for i in range(N_READINGS)]
