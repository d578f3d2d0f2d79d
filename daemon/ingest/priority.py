"""Which messages are urgent: a cheap pre-screen of each message before its batch is judged.

An urgent message closes its batch at once instead of waiting out the batch window (``Intake.accept``), and under
overload it jumps the routine backlog.

Under overload the intake holds a backlog of received messages (``Intake``'s look-ahead). An alarm-level reading
at the back of it would wait for everything before it; a monitoring system must judge it first. ISA-18.2 (and
EEMUA 191's guidance on alarm floods) asks that the important be told from the routine when there is too much to
handle; here that is decided per message, before the full judgement, from what is cheap to know:

- a device already in alarm (a condition of one of its sensors is active): its readings decide
  whether the alarm escalates or clears;
- a reading at or beyond the sensor's first alarm level (``high`` above, ``low`` below, as ``/metrics`` draws them:
  site file, detection core, then the ``level`` rules);
- a change of state of a boolean sensor (tamper, mains power) against the latest value judged;
- a device status message (online/offline, a last will).

The pre-screen decodes the message with the service's own codec (a few microseconds; units converted as judged).
What it picks is not judged alone: the intake takes every waiting message of the same device with it, in order,
so a detector never sees a sensor's readings out of order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from daemon.ingest.senml import BatchBuilder, SenmlDecoder
from daemon.metrics.sensors import level_rules, sensor_levels
from detectors.config import CoreConfig
from detectors.kinds import BOOLEAN_KINDS
from rules.book import AlarmBook
from rules.model import Rule
from rules.sensor_table import SensorTable


class Prescreen:
    """Tells urgent messages from routine ones, from their topic and bytes."""

    def __init__(self, decoder: SenmlDecoder, table: SensorTable, prefix: str) -> None:
        self._decoder = decoder
        self._table = table
        self._device_part = len(prefix.strip("/").split("/")) + 1  # <prefix>/<site>/<device>[/status]
        self._device_index = {device.id: i for i, device in enumerate(table.devices)}
        # Python lists: a message holds one to a few readings, and indexing a list beats a numpy call at that size.
        self._boolean = [spec.kind in BOOLEAN_KINDS for spec in table.sensors]
        self._high = [math.inf] * len(table)
        self._low = [-math.inf] * len(table)
        self.devices_in_alarm: frozenset[int] = frozenset()
        self._latest: NDArray[np.float64] | None = None
        self._scratch = BatchBuilder()

    def update_levels(self, rules: Sequence[Rule], core: CoreConfig | None) -> None:
        """Each sensor's first alarm levels (at start and after a rules reload)."""
        by_level = level_rules(rules, self._table)
        for sensor in range(len(self._table)):
            levels = dict(sensor_levels(self._table, sensor, by_level, core))
            self._high[sensor] = levels.get("high", math.inf)
            self._low[sensor] = levels.get("low", -math.inf)

    def follow(self, latest_value: NDArray[np.float64], book: AlarmBook) -> None:
        """The latest judged values (change of state) and the devices in alarm, read after a batch is judged."""
        self._latest = latest_value
        self.devices_in_alarm = frozenset(alarm.device for alarm in book.alarms.values() if alarm.process_active)

    def topics_of(self, topic: str) -> tuple[str, str]:
        """The topics of the device ``topic`` belongs to (its data, its status): what keeps a device's order."""
        data = "/".join(topic.split("/")[: self._device_part + 1])
        return data, data + "/status"

    def urgent(self, topic: str, payload: bytes, received: float) -> bool:
        """True when the message must be judged before the routine backlog."""
        parts = topic.split("/")
        device = self._device_index.get(parts[self._device_part]) if len(parts) > self._device_part else None
        if device is None:
            return False  # quarantined in its turn: bad input never jumps the queue
        if len(parts) > self._device_part + 1:
            return True  # a device status (online/offline, a last will): cheap, and it changes what is judged
        if device in self.devices_in_alarm:
            return True
        scratch = self._scratch
        try:
            self._decoder.decode(topic, payload, received, scratch)
        except Exception:  # the decode in its turn quarantines it and says why
            scratch.truncate(0)
            return False
        high, low, boolean, latest = self._high, self._low, self._boolean, self._latest
        found = False
        for sensor, value in zip(scratch.sensor, scratch.value, strict=True):
            if value >= high[sensor] or value <= low[sensor]:
                found = True
            elif boolean[sensor] and (latest is None or value != latest[sensor]):
                found = True  # a change of state (nan latest: never judged, so a change too)
        scratch.truncate(0)
        return found
