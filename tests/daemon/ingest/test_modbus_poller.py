"""Polling a pymodbus controller through the running service: values, status bits, exceptions, time-outs, restarts."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from daemon.service import Service
from daemon.store.reading_chunks import count_readings
from detectors.readings import FLAG_CALIBRATION, FLAG_DEVICE_FAULT
from rules.site import Site
from tests.conftest import free_port, running_service, service_config
from tests.daemon.ingest.modbus_controller import HOLDING_FC, INPUT_FC, Controller, SilentController
from tests.helpers import eventually


def controller_site(port: int, *, extra_values: list[dict[str, Any]] | None = None) -> Site:
    """One controller with a Cl2 and an H2S head; status register 20: bit 0 fault, bit 1 calibration."""
    return Site.model_validate({
        "site": "mb",
        "name": "Modbus test site",
        "center": {"lat": 31.0, "lon": 121.0},
        "zones": [{"id": "p", "name": "plant", "type": "plant"}],
        "devices": [{
            "id": "ctrl-1",
            "type": "gas_detector",
            "position": {"lat": 31.0, "lon": 121.0},
            "zone": "p",
            "report_interval_s": 1,
            "modbus": {
                "host": "127.0.0.1",
                "port": port,
                "unit_id": 1,
                "poll_interval_s": 0.1,
                "timeout_s": 0.3,
                "offline_after_failures": 2,
                "values": [
                    {"sensor": "cl2", "table": "holding", "address": 0, "type": "uint16", "scale": 0.01},
                    {"sensor": "h2s", "table": "input", "address": 10, "type": "float32", "word_order": "little"},
                    *(extra_values or []),
                ],
                "status": [{"address": 20, "fault_bits": [0], "calibration_bits": [1], "alarm_bits": [4]}],
            },
            "sensors": [
                {"id": "mb.cl2", "name": "cl2", "kind": "gas", "unit": "ppm", "substance": "Cl2"},
                {"id": "mb.h2s", "name": "h2s", "kind": "gas", "unit": "ppm", "substance": "H2S"},
            ],
        }],
    })  # fmt: skip


def float_words_little(number: float) -> list[int]:
    """A float32 as two registers, low word first (word order little)."""
    packed = struct.pack(">f", number)
    return [int.from_bytes(packed[2:], "big"), int.from_bytes(packed[:2], "big")]


@asynccontextmanager
async def service_for(
    site: Site, machine_broker: tuple[str, int], sqlite_url: str, unique: str
) -> AsyncIterator[Service]:
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, f"hw-{unique}", unique)
    async with running_service(config, site) as service:
        yield service


def sample(service: Service, name: str, labels: dict[str, str] | None = None) -> float:
    return service.registry.get_sample_value(name, labels or {}) or 0.0


async def test_values_and_status_bits(machine_broker: tuple[str, int], sqlite_url: str, unique: str) -> None:
    controller = Controller(free_port())
    await controller.set(HOLDING_FC, 0, [37])  # 0.37 ppm Cl2
    await controller.set(INPUT_FC, 10, float_words_little(2.5))
    await controller.start()
    try:
        async with service_for(controller_site(controller.port), machine_broker, sqlite_url, unique) as service:
            cl2, h2s = service.table.index["mb.cl2"], service.table.index["mb.h2s"]
            latest = service.pipeline

            async def values_seen() -> bool:
                service.field_protocols.flush()
                return bool(latest.latest_value[cl2] == 0.37 and latest.latest_value[h2s] == 2.5)

            await eventually(values_seen)
            assert latest.latest_flags[cl2] == 0
            assert service.intake.device_online[0] is True

            await controller.set(HOLDING_FC, 20, [0b10])  # calibrating

            async def calibrating() -> bool:
                return bool(latest.latest_flags[cl2] & FLAG_CALIBRATION and latest.latest_flags[h2s] & FLAG_CALIBRATION)

            await eventually(calibrating)
            await controller.set(HOLDING_FC, 20, [0b01])  # detector fault
            await eventually(lambda: _async(bool(latest.latest_flags[cl2] & FLAG_DEVICE_FAULT)))
            await service.drain()
            async with service.engine.connect() as connection:
                assert await count_readings(connection) >= 6
            assert sample(service, "hazwatch_modbus_polls_total", {"outcome": "ok"}) >= 3
    finally:
        await controller.stop()


async def _async(value: bool) -> bool:
    return value


async def test_exception_answers_keep_the_device_online(
    machine_broker: tuple[str, int], sqlite_url: str, unique: str
) -> None:
    controller = Controller(free_port(), size=32)
    await controller.set(HOLDING_FC, 0, [10])
    await controller.start()
    beyond = [{"sensor": "h2s", "table": "input", "address": 300, "type": "uint16"}]  # not in the controller
    try:
        site = controller_site(controller.port, extra_values=beyond)
        async with service_for(site, machine_broker, sqlite_url, unique) as service:
            await eventually(
                lambda: _async(sample(service, "hazwatch_modbus_polls_total", {"outcome": "exception"}) >= 3)
            )
            assert service.intake.device_online[0] is True
            assert service.pipeline.latest_value[service.table.index["mb.cl2"]] == 0.1  # the other blocks still read
            assert sample(service, "hazwatch_modbus_devices_offline") == 0
    finally:
        await controller.stop()


async def test_a_controller_that_never_answers_goes_offline(
    machine_broker: tuple[str, int], sqlite_url: str, unique: str
) -> None:
    silent = SilentController()
    await silent.start()
    try:
        async with service_for(controller_site(silent.port), machine_broker, sqlite_url, unique) as service:
            await eventually(lambda: _async(service.intake.device_online.get(0) is False))
            assert sample(service, "hazwatch_modbus_devices_offline") == 1
            assert sample(service, "hazwatch_modbus_polls_total", {"outcome": "no_answer"}) >= 2
            assert sample(service, "hazwatch_modbus_polls_total", {"outcome": "ok"}) == 0
    finally:
        await silent.stop()


async def test_a_restarting_controller_goes_offline_and_comes_back(
    machine_broker: tuple[str, int], sqlite_url: str, unique: str
) -> None:
    controller = Controller(free_port())
    await controller.set(HOLDING_FC, 0, [50])
    await controller.start()
    try:
        async with service_for(controller_site(controller.port), machine_broker, sqlite_url, unique) as service:
            cl2 = service.table.index["mb.cl2"]
            await eventually(lambda: _async(service.intake.device_online.get(0) is True))
            await controller.stop()
            await eventually(lambda: _async(service.intake.device_online.get(0) is False))
            await controller.set(HOLDING_FC, 0, [80])
            await controller.start()
            await eventually(lambda: _async(service.intake.device_online.get(0) is True))

            async def new_value() -> bool:
                service.field_protocols.flush()
                return bool(service.pipeline.latest_value[cl2] == 0.8)

            await eventually(new_value)
            assert sample(service, "hazwatch_modbus_devices_offline") == 0
    finally:
        await controller.stop()
