"""Readings published while the service is down are delivered when it returns (QoS 1, persistent session)."""

from __future__ import annotations

import time

from daemon.config import ServiceConfig
from daemon.service import Service
from daemon.store.reading_chunks import count_readings, read_readings
from rules.site import Site
from tests.conftest import running_service, service_config
from tests.helpers import eventually, publish, senml

N_READINGS = 1000


async def _published_while_down(
    broker: tuple[str, int], config: ServiceConfig, site: Site, device: str
) -> tuple[Service, float]:
    """Run once (the broker-side session), publish 1,000 readings of ``device`` at QoS 1; returns a new service
    (not started) and the first reading's time."""
    async with running_service(config, site):
        pass
    t0 = time.time() - 2 * N_READINGS
    topic = f"{config.mqtt.topic_prefix}/{site.site}/{device}"
    messages = [(topic, senml(device, [("dose_rate", 90.0 + i % 7, "nSv/h")], t0 + i)) for i in range(N_READINGS)]
    await publish(broker, messages, qos=1)
    return Service(config, site), t0


async def _all_stored(service: Service) -> int:
    async def stored() -> int:
        await service.drain()
        async with service.engine.connect() as connection:
            count = await count_readings(connection)
        return count if count >= N_READINGS else 0

    return await eventually(stored, timeout=60)


async def test_readings_published_while_down_are_stored(
    machine_broker: tuple[str, int], sqlite_url: str, demo_site: Site, unique: str
) -> None:
    """Start, stop, publish 1,000 readings at QoS 1, start again: all 1,000 are stored."""
    prefix = f"hwtest-{unique}"
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, prefix, f"svc-{unique}")
    _, t0 = await _published_while_down(machine_broker, config, demo_site, "gamma-01")
    async with running_service(config, demo_site) as service:
        assert await _all_stored(service) == N_READINGS
        async with service.engine.connect() as connection:
            times = (await read_readings(connection)).time.tolist()
        assert times == [t0 + i for i in range(N_READINGS)]


async def test_acknowledgements_reach_the_broker_past_a_small_receive_window(
    machine_broker: tuple[str, int], sqlite_url: str, demo_site: Site, unique: str
) -> None:
    """With a receive window of 20 the broker sends the 21st message only once the service acknowledged one: 1,000
    readings stored means the batched PUBACKs (one write per committed batch) reach it."""
    prefix = f"hwtest-{unique}"
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, prefix, f"svc-{unique}")
    config.mqtt.receive_maximum = 20
    await _published_while_down(machine_broker, config, demo_site, "gamma-02")
    async with running_service(config, demo_site) as service:
        assert await _all_stored(service) == N_READINGS
        assert service.metrics.registry.get_sample_value("hazwatch_mqtt_acks_total") == N_READINGS
