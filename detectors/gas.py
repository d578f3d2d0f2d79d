"""Toxic-gas exposure: instantaneous detector alarm levels (GB/T 50493) and rolling means against AEGL, STEL, TWA.

Rolling means are kept in per-sensor rings of fixed time slots (1-minute slots for the 10/15/30/60-minute
windows, 30-minute slots for the 8-hour TWA). A window is judged when a slot closes, over whole slots, and only
if at least three quarters of its slots hold valid readings. Sums are integers of micro-ppm so that adding
readings one at a time or a batch at a time gives bit-identical means.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from detectors.conditions import ConditionEvents
from detectors.config import AEGL_WINDOWS, CoreConfig
from detectors.hysteresis import HysteresisState, SortedBatch
from detectors.streams import debounce, rank_steps

LEVEL1 = "gas.level1"
LEVEL2 = "gas.level2"
AEGL1_60MIN = "gas.aegl1_60min"
AEGL2_10MIN = "gas.aegl2_10min"
AEGL2_30MIN = "gas.aegl2_30min"
AEGL2_60MIN = "gas.aegl2_60min"
AEGL3_10MIN = "gas.aegl3_10min"
AEGL3_30MIN = "gas.aegl3_30min"
AEGL3_60MIN = "gas.aegl3_60min"
STEL_15MIN = "gas.stel_15min"
TWA_8H = "gas.twa_8h"
AEGL_CONDITIONS: tuple[str, ...] = tuple(f"gas.{suffix}" for suffix, _ in AEGL_WINDOWS)

LEVEL_DEADBAND = 0.1  # an instantaneous alarm clears below 90 % of its level
WINDOW_DEADBAND = 0.05  # a rolling-mean alarm clears below 95 % of its level
MIN_COVERAGE = 0.75  # fraction of a window's slots that must hold valid readings
MICRO = 1_000_000.0  # fixed-point scale of the ring sums (micro-ppm)


@dataclass
class SlotRing:
    """Per-row ring of time slots holding integer sums and counts of readings."""

    n_rows: int
    n_slots: int
    slot_s: float
    sums: NDArray[np.int64] = field(init=False)
    counts: NDArray[np.uint16] = field(init=False)
    current: NDArray[np.int64] = field(init=False)  # slot number last written, -1: none

    def __post_init__(self) -> None:
        self.sums = np.zeros((self.n_rows, self.n_slots), np.int64)
        self.counts = np.zeros((self.n_rows, self.n_slots), np.uint16)
        self.current = np.full(self.n_rows, -1, np.int64)

    @property
    def nbytes(self) -> int:
        """Bytes held."""
        return int(self.sums.nbytes + self.counts.nbytes + self.current.nbytes)

    def window_means(
        self, rows: NDArray[np.intp], last_slot: NDArray[np.int64], widths: tuple[int, ...]
    ) -> NDArray[np.float64]:
        """Means over slots ``last_slot - width + 1 .. last_slot`` for each width, shape (len(widths), rows);
        nan where coverage is too thin."""
        longest = max(widths)
        cols = (last_slot[:, None] - np.arange(longest)[None, :]) % self.n_slots
        # One gather, newest slot first; cumulative sums then give every window ending at the newest slot.
        sums = np.cumsum(self.sums[rows[:, None], cols], axis=1)
        counts = self.counts[rows[:, None], cols]
        n = np.cumsum(counts, axis=1, dtype=np.int64)
        filled = np.cumsum(counts > 0, axis=1)
        out = np.empty((len(widths), rows.shape[0]))
        for i, width in enumerate(widths):
            total, k = sums[:, width - 1], n[:, width - 1]
            covered = (filled[:, width - 1] >= MIN_COVERAGE * width) & (k > 0)
            out[i] = np.where(covered, total / np.maximum(k, 1) / MICRO, np.nan)
        return out

    def advance_and_add(
        self, rows: NDArray[np.intp], slot: NDArray[np.int64], sums: NDArray[np.int64], counts: NDArray[np.int64]
    ) -> None:
        """Move rows to ``slot`` (clearing the slots skipped) and add a run's sum and count there."""
        cur = self.current[rows]
        ahead = slot > cur
        if ahead.any():
            r = rows[ahead]
            start = np.where(cur[ahead] < 0, slot[ahead], cur[ahead] + 1)
            gap = np.minimum(slot[ahead] - start + 1, self.n_slots)
            k = np.arange(self.n_slots)[None, :]
            clear = ((k - start[:, None]) % self.n_slots) < gap[:, None]
            self.sums[r] = np.where(clear, 0, self.sums[r])
            self.counts[r] = np.where(clear, 0, self.counts[r])
            self.current[r] = slot[ahead]
        # Late readings for a slot still in the ring are added; older ones are dropped.
        keep = slot > self.current[rows] - self.n_slots
        col = slot[keep] % self.n_slots
        np.add.at(self.sums, (rows[keep], col), sums[keep])
        np.add.at(self.counts, (rows[keep], col), np.minimum(counts[keep], 65535).astype(np.uint16))


@dataclass
class GasDetector:
    """Exposure tests for every gas sensor with a known substance."""

    config: CoreConfig
    rows: NDArray[np.intp] = field(init=False)  # sensor -> ring row, -1: not a monitored gas
    minutes: SlotRing = field(init=False)
    half_hours: SlotRing = field(init=False)
    states: dict[str, HysteresisState] = field(init=False)

    def __post_init__(self) -> None:
        c = self.config
        monitored = c.substance >= 0
        self.rows = np.full(c.n_sensors, -1, np.intp)
        self.rows[monitored] = np.arange(int(monitored.sum()))
        n_rows = int(monitored.sum())
        self.minutes = SlotRing(n_rows, 60, 60.0)
        self.half_hours = SlotRing(n_rows, 16, 1800.0)
        names = (LEVEL1, LEVEL2, *AEGL_CONDITIONS, STEL_15MIN, TWA_8H)
        self.states = {name: HysteresisState.new(c.n_sensors) for name in names}

    @property
    def state_nbytes(self) -> int:
        """Bytes of carried state."""
        return (
            self.minutes.nbytes
            + self.half_hours.nbytes
            + self.rows.nbytes
            + sum(s.nbytes for s in self.states.values())
        )

    def process(
        self, batch: SortedBatch, value: NDArray[np.float64], valid: NDArray[np.bool_]
    ) -> list[ConditionEvents]:
        """Return instantaneous-level and rolling-window transitions for the gas readings in ``batch``."""
        c = self.config
        keep = self.rows[batch.sensor] >= 0
        if not keep.all():
            batch, value, valid = batch.subset(keep), value[keep], valid[keep]
        s = batch.sensor
        zero = np.zeros(c.n_sensors)
        out: list[ConditionEvents] = []
        for name, level in ((LEVEL1, c.gas_level1[s]), (LEVEL2, c.gas_level2[s])):
            with np.errstate(invalid="ignore"):
                on = valid & (value >= level)
                off = valid & (value < level * (1.0 - LEVEL_DEADBAND))
            out.append(debounce(name, batch, on, off, zero, zero, self.states[name], value, level))
        minute_windows = [
            (name, width, c.gas_aegl[:, col])
            for col, (name, (_, width)) in enumerate(zip(AEGL_CONDITIONS, AEGL_WINDOWS, strict=True))
        ]
        minute_windows.append((STEL_15MIN, 15, c.gas_stel))
        out += self._windows(batch, value, valid, self.minutes, minute_windows)
        out += self._windows(batch, value, valid, self.half_hours, [(TWA_8H, 16, c.gas_twa)])
        return out

    def _windows(
        self,
        batch: SortedBatch,
        value: NDArray[np.float64],
        valid: NDArray[np.bool_],
        ring: SlotRing,
        windows: list[tuple[str, int, NDArray[np.float64]]],
    ) -> list[ConditionEvents]:
        """Fold readings into ``ring`` run by run; judge each window when a slot closes."""
        n = value.shape[0]
        if n == 0:
            return []
        slot = np.floor(batch.time / ring.slot_s).astype(np.int64)
        run_start = np.ones(n, np.bool_)
        run_start[1:] = (batch.sensor[1:] != batch.sensor[:-1]) | (slot[1:] != slot[:-1])
        first = np.flatnonzero(run_start)
        micro = np.where(valid, np.rint(np.nan_to_num(value) * MICRO), 0).astype(np.int64)
        run_sum = np.add.reduceat(micro, first)
        run_count = np.add.reduceat(valid.astype(np.int64), first)
        runs = SortedBatch.from_sorted(first, batch.sensor[first], batch.time[first])
        run_slot = slot[first]
        widths = tuple(sorted({width for _, width, _ in windows}))
        column = {width: i for i, width in enumerate(widths)}
        means = np.full((len(widths), first.shape[0]), np.nan)
        closes = np.zeros(first.shape[0], np.bool_)
        for idx in rank_steps(runs):
            rows = self.rows[runs.sensor[idx]]
            cur = ring.current[rows]
            closing = (cur >= 0) & (run_slot[idx] > cur)
            if closing.any():
                ci = idx[closing]
                means[:, ci] = ring.window_means(rows[closing], cur[closing], widths)
                closes[ci] = True
            ring.advance_and_add(rows, run_slot[idx], run_sum[idx], run_count[idx])
        if not closes.any():
            return []
        judged = runs.subset(closes)
        zero = np.zeros(self.config.n_sensors)
        out = []
        for name, width, levels in windows:
            mean = means[column[width], closes]
            level = levels[judged.sensor]
            with np.errstate(invalid="ignore"):
                on = mean >= level
                off = mean < level * (1.0 - WINDOW_DEADBAND)
            if on.any() or self.states[name].active[judged.sensor].any():
                out.append(debounce(name, judged, on, off, zero, zero, self.states[name], mean, level))
        return out
