"""The detection core: one facade that runs every detector over a batch of readings and over the clock."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from detectors.anomaly import AnomalyDetector
from detectors.conditions import ConditionEvents
from detectors.config import (
    BATTERY,
    GAMMA,
    GAS,
    HDOP,
    LATITUDE,
    LONGITUDE,
    MAINS,
    RAIN,
    SOURCE_DOSE,
    TAMPER,
    CoreConfig,
)
from detectors.gamma import GammaDetector
from detectors.gas import GasDetector
from detectors.geofence import GeofenceDetector
from detectors.hysteresis import SortedBatch
from detectors.liveness import LivenessTracker
from detectors.quality import QualityDetector
from detectors.readings import INVALID_MASK, ReadingBatch, censored_mask
from detectors.sources import SourceDetector
from detectors.streams import merge_events
from detectors.thresholds import ThresholdDetector

_SOURCE_CHANNELS = np.array([SOURCE_DOSE, TAMPER, BATTERY, MAINS], np.int8)
_GNSS_CHANNELS = np.array([LATITUDE, LONGITUDE, HDOP], np.int8)


@dataclass(frozen=True, slots=True)
class CoreResult:
    """What one batch produced: per-reading flags and anomaly scores (batch order) and condition transitions."""

    flags: NDArray[np.uint16]
    anomaly_score: NDArray[np.float64]
    conditions: list[ConditionEvents]
    sorted_batch: SortedBatch | None = None  # the batch's (sensor, time) order, for callers that need it too


class DetectionCore:
    """Runs thresholds, quality, anomaly, gamma, gas, sealed-source and geofence detectors with carried state."""

    def __init__(self, config: CoreConfig) -> None:
        self.config = config
        self.thresholds = ThresholdDetector(config.thresholds)
        self.quality = QualityDetector(config)
        self.anomaly = AnomalyDetector(config)
        self.gamma = GammaDetector(config)
        self.gas = GasDetector(config)
        self.sources = SourceDetector(config)
        self.geofence = GeofenceDetector(config)
        self.liveness = LivenessTracker(config)
        # Which sensors are sealed-source channels and GNSS channels of a source monitor (fixed by the config).
        of_source = config.device_is_source[config.device]
        self._source_channel = of_source & np.isin(config.kind, _SOURCE_CHANNELS)
        self._gnss_channel = of_source & np.isin(config.kind, _GNSS_CHANNELS)

    @property
    def state_nbytes(self) -> int:
        """Bytes of per-sensor and per-device state carried between batches."""
        return (
            self.thresholds.state_nbytes
            + self.quality.state_nbytes
            + self.anomaly.state_nbytes
            + self.gamma.state_nbytes
            + self.gas.state_nbytes
            + self.sources.state_nbytes
            + self.geofence.state_nbytes
            + self.liveness.state_nbytes
        )

    def process(self, batch: ReadingBatch, received_at: float | NDArray[np.float64] | None = None) -> CoreResult:
        """Run every detector over ``batch`` (any order).

        ``received_at`` is when the batch arrived: it enables the device-clock check and marks the devices
        as heard from at that time, so a backlog of old readings delivered after an outage does not make
        them look offline. It may be one time per reading (batch order): a replay that runs many batches as one
        block passes each reading the time its own batch arrived, which gives what those batches would have given.
        """
        n = len(batch)
        if n == 0:
            return CoreResult(np.zeros(0, np.uint16), np.zeros(0), [])
        c = self.config
        sorted_batch = SortedBatch.build(batch.sensor, batch.time)
        order = sorted_batch.order
        s = sorted_batch.sensor
        value = batch.value[order]
        if isinstance(received_at, np.ndarray):
            received_at = received_at[order]
        flags = self.quality.flag(sorted_batch, value, batch.flags[order], received_at)
        valid = (flags & INVALID_MASK) == 0
        # Saturated hazard readings are censored: the true value is at least full scale. "Above" tests take
        # that lower bound; tests needing the true value (clearing, learning) see them as invalid.
        censored = censored_mask(flags)
        any_censored = bool(censored.any())
        if any_censored:
            value = np.where(censored, np.fmax(value, c.full_scale[s]), value)
        cens = censored if any_censored else None
        kind = c.kind[s]
        score = np.zeros(n)
        events: list[ConditionEvents] = []
        events += self.thresholds.process(sorted_batch, value, valid, cens)
        events += self.quality.conditions(sorted_batch, value, flags)

        anomalous = c.anomaly_enabled[s]
        if anomalous.any():
            part_score, part_events = self.anomaly.process(
                sorted_batch.subset(anomalous), value[anomalous], valid[anomalous]
            )
            score[anomalous] = part_score
            events += part_events

        gamma, rain = kind == GAMMA, kind == RAIN
        has_gamma = gamma.any()
        if has_gamma or rain.any():
            part_score, part_events = self.gamma.process(
                sorted_batch.subset(gamma),
                value[gamma],
                valid[gamma],
                sorted_batch.subset(rain),
                value[rain],
                valid[rain],
                None if cens is None else cens[gamma],
            )
            if has_gamma:  # rain alone only moves the washout state on: nothing to score, no event to take
                score[gamma] = np.maximum(score[gamma], part_score)
                events += part_events

        gas = kind == GAS
        if gas.any():
            events += self.gas.process(
                sorted_batch.subset(gas),
                value[gas],
                valid[gas],
                None if cens is None else cens[gas],
                received_at[gas] if isinstance(received_at, np.ndarray) else None,
            )

        channels = self._source_channel[s]
        if channels.any():
            events += self.sources.process(
                sorted_batch.subset(channels),
                value[channels],
                valid[channels],
                None if cens is None else cens[channels],
            )
        gnss = self._gnss_channel[s]
        if gnss.any():
            events.append(self.geofence.process(s[gnss], sorted_batch.time[gnss], value[gnss], valid[gnss]))

        heard = sorted_batch.time if received_at is None else np.maximum(sorted_batch.time, received_at)
        events += self.liveness.seen(s, heard)
        flags_out = np.empty(n, np.uint16)
        flags_out[order] = flags
        score_out = np.empty(n)
        score_out[order] = score
        return CoreResult(flags_out, score_out, merge_events(events), sorted_batch)

    def tick(self, now: float) -> list[ConditionEvents]:
        """Time-driven conditions as of ``now``: offline, heartbeat lost, 24-hour capture too low."""
        return merge_events([*self.liveness.tick(now), self.quality.capture_events(now)])

    def device_status(self, device: int, online: bool, now: float) -> list[ConditionEvents]:
        """Apply a device's MQTT status (``online``/``offline``, also its last will)."""
        return merge_events(self.liveness.status(device, online, now))

    def not_credible(self, sensor: int) -> bool:
        """Whether the sensor's readings are held as not credible (fold-back, dead probe) until reset."""
        return bool(self.quality.not_credible.active[sensor])

    def reset_credibility(self, sensors: list[int]) -> None:
        """Operator reset of "reading not credible" (fold-back, dead probe) at these sensors."""
        self.quality.reset_credibility(sensors)

    def quality_ratios(self, now: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Per-sensor 24-hour acquisition ratio and valid-data ratio (0..1)."""
        return self.quality.ratios(now)
