"""10,000 malformed payloads interleaved with valid ones: nothing crashes, every bad one is explained.

The first ``OVER_THE_BROKER`` messages (every kind of bad input, several times) travel through the machine's Mosquitto;
the rest enter the running service where its MQTT handler hands them over (``Intake.accept``). Publishing all 12,500
one acknowledgement at a time took 13 s of a loaded machine, and pipelining them makes Mosquitto drop messages for a
subscriber that falls behind (its per-client queue limit), which is the broker's behaviour, not the service's.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable

from sqlalchemy import func, select

from daemon.store.reading_chunks import count_readings
from daemon.store.schema import quarantine
from rules.site import Site
from tests.conftest import running_service, service_config
from tests.helpers import eventually, publish, senml

N_BAD = 10_000
OVER_THE_BROKER = 1_250  # 16 kinds of bad input cycle: each arrives over MQTT about 60 times


def _bad_payloads(t: float) -> list[tuple[str, Callable[[str], tuple[str, bytes]]]]:
    """(expected reason, builder taking the topic prefix) for every kind of bad input."""

    def at(device: str, payload: bytes) -> Callable[[str], tuple[str, bytes]]:
        return lambda base: (f"{base}/{device}", payload)

    return [
        ("invalid_json", at("gamma-02", b"{not json")),
        ("invalid_json", at("gamma-02", b"\xff\xfe\x00garbage")),
        ("invalid_senml", at("gamma-02", b'"just a string"')),
        ("invalid_senml", at("gamma-02", b"[]")),
        ("invalid_senml", at("gamma-02", json.dumps([{"n": "dose_rate", "v": "high"}]).encode())),
        ("invalid_senml", at("gamma-02", json.dumps([{"n": 5, "v": 1}]).encode())),
        ("non_finite_value", at("gamma-02", b'[{"n":"dose_rate","v":NaN,"t":' + str(t).encode() + b"}]")),
        ("non_finite_value", at("gamma-02", b'[{"n":"dose_rate","v":Infinity,"t":' + str(t).encode() + b"}]")),
        ("unknown_device", at("gamma-99", senml("gamma-99", [("dose_rate", 90.0, "nSv/h")], t))),
        ("unknown_sensor", at("gamma-02", senml("gamma-02", [("neutrons", 3.0, "cps")], t))),
        ("unknown_unit", at("gamma-02", senml("gamma-02", [("dose_rate", 90.0, "furlongs")], t))),
        ("time_in_future", at("gamma-02", senml("gamma-02", [("dose_rate", 90.0, "nSv/h")], t + 86400))),
        ("time_too_old", at("gamma-02", senml("gamma-02", [("dose_rate", 90.0, "nSv/h")], t - 30 * 86400))),
        ("payload_too_large", at("gamma-02", b"[" + b" " * 300_000 + b"]")),
        ("bad_topic", lambda base: (f"{base}/gamma-02/extra/levels", b"[]")),
        ("bad_status", at("gamma-02/status", b"sleepy")),
    ]


async def test_malformed_flood_is_quarantined_and_valid_data_kept(
    machine_broker: tuple[str, int], sqlite_url: str, demo_site: Site, unique: str
) -> None:
    """Every bad message is counted by reason and stored raw; every valid reading is stored."""
    prefix = f"hwtest-{unique}"
    base = f"{prefix}/{demo_site.site}"
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, prefix, f"svc-{unique}")
    config.ingest.decode_workers = 1  # big batches of bad input go through the worker, as in production
    rng = random.Random(42)
    now = time.time() - 3600
    kinds = _bad_payloads(now)
    messages: list[tuple[str, bytes]] = []
    expected: Counter[str] = Counter()
    valid = 0
    for i in range(N_BAD):
        reason, build = kinds[i % len(kinds)]
        if reason == "payload_too_large" and rng.random() < 0.9:
            reason, build = kinds[0]  # keep big payloads few, so the test stays fast
        messages.append(build(base))
        expected[reason] += 1
        if i % 4 == 0:
            messages.append((f"{base}/gamma-03", senml("gamma-03", [("dose_rate", 100.0, "nSv/h")], now + valid)))
            valid += 1
    async with running_service(config, demo_site) as service:
        await publish(machine_broker, messages[:OVER_THE_BROKER], qos=1)

        async def all_in(count: int) -> bool:
            await service.drain()
            return bool(service.metrics.ingest_messages._value.get() >= count)

        await eventually(lambda: all_in(OVER_THE_BROKER), timeout=90)
        for topic, payload in messages[OVER_THE_BROKER:]:
            service.intake.accept(topic, payload, service.clock.now())
        await eventually(lambda: all_in(len(messages)), timeout=90)
        await service.drain()
        for reason, count in expected.items():
            assert (
                service.registry.get_sample_value("hazwatch_quarantined_messages_total", {"reason": reason}) == count
            ), reason
        async with service.engine.connect() as connection:
            stored: dict[str, int] = dict(
                (
                    await connection.execute(select(quarantine.c.reason, func.count()).group_by(quarantine.c.reason))
                ).all()
            )
            n_readings = await count_readings(connection)
            sample = (
                (await connection.execute(select(quarantine.c.payload).where(quarantine.c.reason == "invalid_json")))
                .scalars()
                .first()
            )
        assert stored == dict(expected)
        assert n_readings == valid
        assert sample in (b"{not json", b"\xff\xfe\x00garbage")
