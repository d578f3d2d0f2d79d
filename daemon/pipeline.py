"""One batch of decoded readings through detectors, rules, alarms and plan, then to the store. CPU work only."""

from __future__ import annotations

import time

import numpy as np

from daemon.alarm_flow import AlarmFlow
from daemon.clock import Clock
from daemon.metrics import Metrics
from daemon.store.writer import StoreWriter
from detectors.hysteresis import SortedBatch
from detectors.readings import FLAG_NAMES, ReadingBatch
from detectors.thresholds import ThresholdDetector
from rules.sensor_table import SensorTable


class Pipeline:
    """Runs the detection core over each batch and keeps the latest value per sensor for /metrics."""

    def __init__(
        self,
        table: SensorTable,
        detector: ThresholdDetector,
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

    def process(self, batch: ReadingBatch) -> None:
        """Detect, run rules and plan, update latest values, queue the writes."""
        if not len(batch):
            return
        started = time.perf_counter()
        sorted_batch = SortedBatch.build(batch.sensor, batch.time)
        valid = batch.valid_mask()
        value_sorted = batch.value[sorted_batch.order]
        conditions = self.detector.process(sorted_batch, value_sorted, valid[sorted_batch.order])
        self.flow.on_batch(self._clock.now(), conditions, batch, valid, sorted_batch)
        self._update_latest(sorted_batch, value_sorted, batch.flags[sorted_batch.order])
        self._count_flags(batch)
        if self._store_readings:
            self._writer.add_readings(batch)
        self._metrics.ingest_readings.inc(len(batch))
        self._metrics.batch_seconds.observe(time.perf_counter() - started)

    def _update_latest(self, batch: SortedBatch, value: np.ndarray, flags: np.ndarray) -> None:
        last = batch.is_last
        sensors = batch.sensor[last]
        newer = ~(self.latest_time[sensors] > batch.time[last])  # nan (never seen) counts as older
        self.latest_value[sensors[newer]] = value[last][newer]
        self.latest_time[sensors[newer]] = batch.time[last][newer]
        self.latest_flags[sensors[newer]] = flags[last][newer]

    def _count_flags(self, batch: ReadingBatch) -> None:
        flagged = batch.flags[batch.flags != 0]
        if not flagged.shape[0]:
            return
        for bit, name in FLAG_NAMES.items():
            count = int(np.count_nonzero(flagged & bit))
            if count:
                self._metrics.flagged.labels(name).inc(count)
