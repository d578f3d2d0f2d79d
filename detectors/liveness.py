"""Device liveness: offline after missed report intervals or an MQTT ``offline`` status (last will), and the
heartbeat of sealed-source monitors. Driven by the injected clock through ``tick``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from detectors.conditions import ConditionEvents
from detectors.config import CoreConfig
from detectors.quality import OFFLINE

HEARTBEAT_LOST = "source.heartbeat_lost"


@dataclass
class LivenessTracker:
    """Last-seen time per device and the offline / heartbeat-lost states (device-level, on the first sensor)."""

    config: CoreConfig
    last_seen: NDArray[np.float64] = field(init=False)
    status_offline: NDArray[np.bool_] = field(init=False)  # the broker or device said "offline"
    offline: NDArray[np.bool_] = field(init=False)
    heartbeat_lost: NDArray[np.bool_] = field(init=False)

    def __post_init__(self) -> None:
        n_dev = self.config.n_devices
        self.last_seen = np.full(n_dev, np.nan)
        self.status_offline = np.zeros(n_dev, np.bool_)
        self.offline = np.zeros(n_dev, np.bool_)
        self.heartbeat_lost = np.zeros(n_dev, np.bool_)

    @property
    def state_nbytes(self) -> int:
        """Bytes of carried state."""
        return int(
            self.last_seen.nbytes + self.status_offline.nbytes + self.offline.nbytes + self.heartbeat_lost.nbytes
        )

    def seen(self, sensor: NDArray[np.int32], time: NDArray[np.float64]) -> list[ConditionEvents]:
        """Record readings; a reading from an offline device brings it back, at the first reading heard from it
        (as when each reading comes in a batch of its own: any split of the readings gives the same events)."""
        if sensor.shape[0] == 0:
            return []
        device = self.config.device[sensor]
        before = self.last_seen.copy()
        np.fmax.at(self.last_seen, device, time)
        fresh = np.flatnonzero(~(self.last_seen == before) & ~np.isnan(self.last_seen))
        # The device is talking again, so an earlier "offline" status is stale.
        self.status_offline[fresh] = False
        at = None
        # Only a device coming back has an event to date; most batches hold none (a second pass over them is spared).
        if (self.offline[fresh] | self.heartbeat_lost[fresh]).any():
            first = np.full(self.config.n_devices, np.inf)
            np.fmin.at(first, device, time)
            at = first[fresh]
        return self._evaluate(fresh, self.last_seen[fresh], back_online_only=True, at=at)

    def status(self, device: int, online: bool, now: float) -> list[ConditionEvents]:
        """Apply an MQTT status message (or the last will) for one device."""
        self.status_offline[device] = not online
        if online:
            self.last_seen[device] = np.fmax(self.last_seen[device], now)
        return self._evaluate(np.array([device], np.intp), np.array([now]), back_online_only=False)

    def tick(self, now: float) -> list[ConditionEvents]:
        """Raise or clear offline / heartbeat-lost for every device as of ``now``."""
        devices = np.arange(self.config.n_devices)
        return self._evaluate(devices, np.full(devices.shape[0], now), back_online_only=False)

    def _evaluate(
        self,
        devices: NDArray[np.intp],
        now: NDArray[np.float64],
        *,
        back_online_only: bool,
        at: NDArray[np.float64] | None = None,
    ) -> list[ConditionEvents]:
        """Offline and heartbeat-lost of ``devices`` as of ``now``; transitions are stamped ``at`` (default
        ``now``)."""
        c = self.config
        limit = c.offline_intervals * c.device_interval_s[devices]
        silent = (now - self.last_seen[devices]) > limit  # nan (never seen) is not silent: nothing expected yet
        offline = silent | self.status_offline[devices]
        heartbeat = (silent | self.status_offline[devices]) & c.device_is_source[devices]
        if back_online_only:
            offline &= self.offline[devices]
            heartbeat &= self.heartbeat_lost[devices]
        out = []
        for name, state, new in ((OFFLINE, self.offline, offline), (HEARTBEAT_LOST, self.heartbeat_lost, heartbeat)):
            changed = new != state[devices]
            d = devices[changed]
            state[d] = new[changed]
            out.append(
                ConditionEvents(
                    name,
                    c.device_first_sensor[d].astype(np.int32),
                    (now if at is None else at)[changed],
                    new[changed],
                    (now - self.last_seen[devices])[changed],
                    limit[changed],
                )
            )
        return out
