"""Start and stop the field protocols besides MQTT (HJ 212 listener, Modbus poller) around one intake."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from daemon.clock import Clock
from daemon.config import ServiceConfig
from daemon.ingest.hj212.listener import Hj212Listener
from daemon.ingest.hj212.metrics import Hj212Metrics
from daemon.ingest.hj212.readings import Hj212Decoder
from daemon.ingest.intake import Intake
from daemon.ingest.modbus.poller import ModbusMetrics, ModbusPoller
from daemon.metrics.instruments import Metrics
from rules.sensor_table import SensorTable

log = logging.getLogger(__name__)


@dataclass
class FieldProtocols:
    """What runs: the HJ 212 listener and the Modbus poller, each when configured."""

    hj212: Hj212Listener | None = None
    modbus: ModbusPoller | None = None

    def flush(self) -> None:
        """Hand readings gathered by the listener to the intake now."""
        if self.hj212 is not None:
            self.hj212.flush()

    async def stop(self) -> None:
        """Stop polling and listening; hand the last readings to the intake."""
        if self.modbus is not None:
            await self.modbus.stop()
        if self.hj212 is not None:
            await self.hj212.stop()


async def start_field_protocols(
    config: ServiceConfig, table: SensorTable, intake: Intake, metrics: Metrics, clock: Clock
) -> FieldProtocols:
    """Start the HJ 212 listener (when enabled) and the Modbus poller (when the site has Modbus devices)."""
    running = FieldProtocols()
    if config.hj212.enabled:
        ingest = config.ingest
        decoder = Hj212Decoder(table, table.site.timezone, ingest.max_future_skew_s, ingest.max_past_age_s)
        running.hj212 = Hj212Listener(config.hj212, decoder, intake, Hj212Metrics(metrics.registry, metrics), clock)
        await running.hj212.start()
    elif any(device.hj212 is not None for device in table.devices):
        log.warning("the site file has HJ 212 loggers but [hj212] enabled = false: nobody listens for them")
    if config.modbus.enabled and any(device.modbus is not None for device in table.devices):
        running.modbus = ModbusPoller(config.modbus, table, intake, ModbusMetrics(metrics.registry), clock)
        running.modbus.start()
    return running
