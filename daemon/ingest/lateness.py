"""How much later than usual readings arrive: lateness judged against each sensor's own floor, not zero.

A reading's lateness is its receive time minus its measurement time. Part of it is normal and steady: transit,
a device's sampling-to-send delay, and a device clock that is off (an unsynchronised clock a minute slow looks like
a minute of lateness for ever). A fixed bar high enough to ignore those (``/healthz`` once waited for 300 s) lets a
growing backlog go unreported for minutes. So each sensor keeps a floor of its usual lateness: it follows a lower
lateness at once and a higher one only slowly (time constant ``rise_s``), the way a baseline tracker rides under a
signal. The excess over the floor, in the median over a batch's sensors, is what the backlog added: at 2.6x
capacity it grows by 1.6 s every second, so it crosses a bar of seconds within seconds, while a skewed clock or a
slow link (steady) adds nothing once learnt.
"""

from __future__ import annotations

import numpy as np

from detectors.readings import ReadingBatch


class LatenessFloor:
    """Per-sensor floor of usual lateness, and the excess of each batch over it."""

    def __init__(self, sensors: int, rise_s: float = 600.0) -> None:
        self._floor = np.full(sensors, np.nan)
        self._updated = np.zeros(sensors)
        self._rise_s = rise_s

    def excess(self, batch: ReadingBatch, received: float) -> float:
        """How much later than usual the batch's sensors reported (median over its sensors, seconds, >= 0); then
        learn from the batch.

        Each sensor counts with its newest reading (its lowest lateness in the batch): a device that sends a minute
        of buffered readings in one message is as late as its newest one, not as its median.
        """
        # Over the batch's own sensors only: a city site has 100,000 sensors, a 20 ms batch a few dozen.
        sensors, inverse = np.unique(batch.sensor, return_inverse=True)
        new = np.full(sensors.shape[0], np.inf)
        np.minimum.at(new, inverse, received - batch.time)
        old = self._floor[sensors]
        known = ~np.isnan(old)
        excess = float(np.median(new[known] - old[known])) if known.any() else 0.0
        share = np.clip((received - self._updated[sensors]) / self._rise_s, 0.0, 1.0)
        self._floor[sensors] = np.where(~known | (new < old), new, old + (new - old) * share)
        self._updated[sensors] = received
        return max(0.0, excess)
