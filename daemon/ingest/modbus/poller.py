"""Poll gas-detection controllers over Modbus TCP (pymodbus async client) and feed their values to the intake.

One task per controller, so a controller that does not answer delays only its own polls. A poll reads
the controller's register blocks, decodes values by the site file's register map, and turns its
status bits into quality flags. A controller that fails ``offline_after_failures`` polls in a row is
offline (the same device status path as an MQTT last will); the next answered poll brings it back.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from daemon.clock import Clock
from daemon.config import ModbusConfig
from daemon.ingest.intake import Intake
from daemon.ingest.modbus.registers import (
    ReadBlock,
    alarm_raised,
    decode_value,
    plan_reads,
    register_at,
    status_flags,
    width,
)
from daemon.ingest.senml import BatchBuilder, DeviceStatus, Reason
from daemon.tasks.supervisor import end_task
from detectors.readings import FLAG_OUT_OF_RANGE
from detectors.units import conversion
from rules.sensor_table import SensorTable
from rules.site import DeviceSpec
from rules.site_protocols import ModbusLink, RegisterTable

log = logging.getLogger(__name__)

POLL_OUTCOMES = ("ok", "exception", "no_answer")
BACKOFF_DOUBLINGS = 6  # an offline controller is retried at most 2**6 poll intervals apart (capped by config)


class ModbusMetrics:
    """Polls by outcome and controllers offline."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.polls = Counter(
            "hazwatch_modbus_polls_total",
            "Modbus polls, by outcome: ok, exception (the controller refused a read), no_answer (time-out, "
            "connection refused or lost).",
            ["outcome"],
            registry=registry,
        )
        for outcome in POLL_OUTCOMES:
            self.polls.labels(outcome)
        self.offline = Gauge(
            "hazwatch_modbus_devices_offline", "Modbus controllers that stopped answering.", registry=registry
        )


@dataclass(frozen=True, slots=True)
class _Channel:
    sensor: int
    scale: float
    offset: float
    range_min: float
    range_max: float


class ControllerPoller:
    """Polls one controller."""

    def __init__(
        self,
        number: int,
        device: DeviceSpec,
        link: ModbusLink,
        table: SensorTable,
        intake: Intake,
        metrics: ModbusMetrics,
        clock: Clock,
        reconnect_max_s: float,
    ) -> None:
        self.number = number
        self.device_id = device.id
        self.link = link
        self._intake = intake
        self._metrics = metrics
        self._clock = clock
        self._reconnect_max = max(reconnect_max_s, link.poll_interval_s)
        self._source = f"modbus://{link.host}:{link.port}/{link.unit_id}"
        self.blocks = plan_reads(link.values, link.status)
        self._device_sensors = [table.by_device_name[(device.id, sensor.name)] for sensor in device.sensors]
        self._channels: list[_Channel] = []
        for value in link.values:
            sensor = table.by_device_name[(device.id, value.sensor)]
            spec = table.sensors[sensor]
            scale, offset = conversion(spec.kind, spec.unit, spec.molar_mass())
            self._channels.append(
                _Channel(sensor, scale, offset, float(table.range_min[sensor]), float(table.range_max[sensor]))
            )
        self._status_sensors = [
            [table.by_device_name[(device.id, status.sensor)]] if status.sensor else self._device_sensors
            for status in link.status
        ]
        self._controller_alarm = [False] * len(link.status)
        self.failures = 0
        self.online: bool | None = None
        self._refused: set[ReadBlock] = set()
        self._client = AsyncModbusTcpClient(
            link.host, port=link.port, timeout=link.timeout_s, retries=0, reconnect_delay=0
        )

    async def run(self) -> None:
        """Poll every interval until cancelled; back off while the controller is offline."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                started = loop.time()
                await self.poll()
                await asyncio.sleep(max(0.0, self._interval() - (loop.time() - started)))
        finally:
            self._client.close()

    def _interval(self) -> float:
        beyond = self.failures - self.link.offline_after_failures
        if beyond < 0:
            return self.link.poll_interval_s
        backoff: float = self.link.poll_interval_s * 2.0 ** min(beyond, BACKOFF_DOUBLINGS)
        return min(backoff, self._reconnect_max)

    async def poll(self) -> None:
        """One poll: read every block, feed the values, update online/offline."""
        read: dict[ReadBlock, list[int]] = {}
        refused: set[ReadBlock] = set()
        try:
            await self._connect()
            for block in self.blocks:
                async with asyncio.timeout(self.link.timeout_s + 1.0):
                    response = await self._read(block)
                if response is None:
                    refused.add(block)
                else:
                    read[block] = response
        except (ModbusException, ConnectionError, TimeoutError, OSError) as exc:
            self._no_answer(exc)
            return
        now = self._clock.now()
        self._answered(now)
        self._report_refusals(refused)
        self._metrics.polls.labels("exception" if refused else "ok").inc()
        self._feed(read, now)

    async def _connect(self) -> None:
        if not self._client.connected:
            async with asyncio.timeout(self.link.timeout_s):
                connected = await self._client.connect()
            if not connected:
                raise ConnectionError("connection refused or timed out")

    async def _read(self, block: ReadBlock) -> list[int] | None:
        """The block's registers, or None when the controller answered with a Modbus exception."""
        unit = self.link.unit_id
        if block.table is RegisterTable.HOLDING:
            response = await self._client.read_holding_registers(block.address, count=block.count, device_id=unit)
        else:
            response = await self._client.read_input_registers(block.address, count=block.count, device_id=unit)
        if response.isError():
            return None
        return list(response.registers)

    def _no_answer(self, exc: BaseException) -> None:
        self._metrics.polls.labels("no_answer").inc()
        self._client.close()  # reconnect from scratch next time: the controller may have restarted
        self.failures += 1
        if self.failures == self.link.offline_after_failures and self.online is not False:
            log.warning(
                "Modbus controller %s (%s) stopped answering: %s", self.device_id, self._source, exc or "time-out"
            )
            self.online = False
            self._metrics.offline.inc()
            self._intake.device_status(DeviceStatus(self.number, False, self._clock.now()))

    def _answered(self, now: float) -> None:
        self.failures = 0
        if self.online is not True:
            if self.online is False:
                log.info("Modbus controller %s (%s) answers again", self.device_id, self._source)
                self._metrics.offline.dec()
            self.online = True
            if self._intake.device_online.get(self.number) is not True:
                self._intake.device_status(DeviceStatus(self.number, True, now))

    def _report_refusals(self, refused: set[ReadBlock]) -> None:
        for block in refused - self._refused:
            log.warning(
                "Modbus controller %s refuses to read %s registers %d-%d (exception answer)",
                self.device_id, block.table.value, block.address, block.address + block.count - 1,
            )  # fmt: skip
        self._refused = refused

    def _feed(self, read: dict[ReadBlock, list[int]], now: float) -> None:
        flags = dict.fromkeys(self._device_sensors, 0)
        for index, (status, sensors) in enumerate(zip(self.link.status, self._status_sensors, strict=True)):
            registers = register_at(read, status.table, status.address, 1)
            if registers is None:
                continue
            bits = status_flags(registers[0], status)
            for sensor in sensors:
                flags[sensor] |= bits
            alarm = alarm_raised(registers[0], status)
            if alarm != self._controller_alarm[index]:
                self._controller_alarm[index] = alarm
                log.info("Modbus controller %s: its own alarm bit is %s", self.device_id, "set" if alarm else "clear")
        out = BatchBuilder()
        for value, channel in zip(self.link.values, self._channels, strict=True):
            registers = register_at(read, value.table, value.address, width(value.type))
            if registers is None:
                continue
            reading = decode_value(registers, value)
            if math.isnan(reading):
                payload = b"".join(word.to_bytes(2, "big") for word in registers)
                detail = f"{value.sensor} at {value.table.value} {value.address} decodes to a non-finite number"
                self._intake.quarantine(self._source, payload, now, Reason.NON_FINITE_VALUE.value, detail)
                continue
            reading = reading * channel.scale + channel.offset
            bits = flags[channel.sensor]
            if not channel.range_min <= reading <= channel.range_max:
                bits |= int(FLAG_OUT_OF_RANGE)
            out.sensor.append(channel.sensor)
            out.time.append(now)
            out.value.append(reading)
            out.flags.append(bits)
        if len(out):
            self._intake.accept_decoded(out.build())


class ModbusPoller:
    """Polls every Modbus controller of the site, each on its own task."""

    def __init__(
        self, config: ModbusConfig, table: SensorTable, intake: Intake, metrics: ModbusMetrics, clock: Clock
    ) -> None:
        self.controllers = [
            ControllerPoller(number, device, device.modbus, table, intake, metrics, clock, config.reconnect_max_s)
            for number, device in enumerate(table.devices)
            if device.modbus is not None
        ]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start one polling task per controller."""
        for controller in self.controllers:
            self._tasks.append(asyncio.create_task(controller.run(), name=f"modbus-{controller.device_id}"))
        log.info("polling %d Modbus controllers", len(self.controllers))

    async def stop(self) -> None:
        """Stop polling."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            await end_task(task)
        self._tasks.clear()
