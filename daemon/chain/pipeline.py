"""One batch of decoded readings through detectors, rules, alarms and plan, then to the store. CPU work only."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from daemon.chain.alarm_flow import AlarmFlow
from daemon.chain.seen_readings import SeenReadings
from daemon.clock import Clock
from daemon.metrics.instruments import Metrics
from daemon.store.writer import StoreWriter
from detectors.core import DetectionCore
from detectors.readings import FLAG_NAMES, ReadingBatch
from rules.sensor_table import SensorTable


class Pipeline:
    """Runs the detection core over each batch and keeps the latest value per sensor for /metrics."""

    def __init__(
        self,
        table: SensorTable,
        detector: DetectionCore,
        flow: AlarmFlow,
        writer: StoreWriter,
        metrics: Metrics,
        clock: Clock,
        *,
        store_readings: bool = True,
    ) -> None:
        self.table = table
        self.detector = detector
        self.flow = flow
        self._writer = writer
        self._metrics = metrics
        self._clock = clock
        self._store_readings = store_readings
        self.latest_value = np.full(len(table), np.nan)
        self.latest_time = np.full(len(table), np.nan)
        self.latest_flags = np.zeros(len(table), np.uint16)  # quality bits of the latest reading (sensor state)
        self.batch_listeners: list[Callable[[ReadingBatch], None]] = []  # e.g. the release assessment's window
        self.seen = SeenReadings()  # drops a redelivered reading before it is judged or stored a second time

    def process(self, batch: ReadingBatch) -> None:
        """Detect, run rules and plan, update latest values, queue the writes."""
        if not len(batch):
            return
        fresh = self.seen.fresh(batch)
        if fresh is not None:
            self._metrics.duplicate_readings.inc(int(np.count_nonzero(~fresh)))
            batch = batch.take(fresh)
            if not len(batch):
                return
        started = time.perf_counter()
        now = self._clock.now()
        result = self.detector.process(batch, received_at=now)
        # Store and judge the readings with the quality bits the core found (stuck, jump, ...).
        batch = ReadingBatch(batch.sensor, batch.time, batch.value, result.flags)
        self.flow.on_batch(now, result.conditions, batch, batch.valid_mask(), result.sorted_batch)
        self.after_detection(batch)
        self._metrics.batch_seconds.observe(time.perf_counter() - started)

    def after_detection(self, batch: ReadingBatch) -> None:
        """What follows the chain for judged readings (with the core's flags): latest values, listeners, counts and
        the store. A replay calls it once for a block of quiet batches (``daemon.drills.block_replay``)."""
        self._update_latest(batch)
        for listener in self.batch_listeners:
            listener(batch)
        self._count_flags(batch)
        if self._store_readings:
            self._writer.add_readings(batch)
        self._metrics.ingest_readings.inc(len(batch))

    def tick(self, now: float) -> None:
        """Time-driven detection (offline, heartbeat, capture ratio), then the alarm and plan timers."""
        self.flow.on_conditions(now, self.detector.tick(now))
        self.flow.tick(now)

    def device_status(self, device: int, online: bool, now: float) -> None:
        """A device's MQTT status or last will."""
        self.flow.on_conditions(now, self.detector.device_status(device, online, now))

    def _update_latest(self, batch: ReadingBatch) -> None:
        # Without a sort: the newest time per sensor, then the readings that carry it.
        seen = np.where(np.isnan(self.latest_time), -np.inf, self.latest_time)
        np.maximum.at(seen, batch.sensor, batch.time)
        newest = batch.time == seen[batch.sensor]
        sensors = batch.sensor[newest]
        self.latest_time[sensors] = batch.time[newest]
        self.latest_value[sensors] = batch.value[newest]
        self.latest_flags[sensors] = batch.flags[newest]

    def _count_flags(self, batch: ReadingBatch) -> None:
        flagged = batch.flags[batch.flags != 0]
        if not flagged.shape[0]:
            return
        for bit, name in FLAG_NAMES.items():
            count = int(np.count_nonzero(flagged & bit))
            if count:
                self._metrics.flagged.labels(name).inc(count)
