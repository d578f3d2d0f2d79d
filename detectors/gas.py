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
AEGL1_10MIN = "gas.aegl1_10min"
AEGL1_30MIN = "gas.aegl1_30min"
AEGL1_60MIN = "gas.aegl1_60min"
AEGL1_4H = "gas.aegl1_4h"
AEGL1_8H = "gas.aegl1_8h"
AEGL2_10MIN = "gas.aegl2_10min"
AEGL2_30MIN = "gas.aegl2_30min"
AEGL2_60MIN = "gas.aegl2_60min"
AEGL2_4H = "gas.aegl2_4h"
AEGL2_8H = "gas.aegl2_8h"
AEGL3_10MIN = "gas.aegl3_10min"
AEGL3_30MIN = "gas.aegl3_30min"
AEGL3_60MIN = "gas.aegl3_60min"
AEGL3_4H = "gas.aegl3_4h"
AEGL3_8H = "gas.aegl3_8h"
STEL_15MIN = "gas.stel_15min"
TWA_8H = "gas.twa_8h"
AEGL_CONDITIONS: tuple[str, ...] = tuple(f"gas.{suffix}" for suffix, _ in AEGL_WINDOWS)

LEVEL_DEADBAND = 0.1  # an instantaneous alarm clears below 90 % of its level
WINDOW_DEADBAND = 0.05  # a rolling-mean alarm clears below 95 % of its level
MIN_COVERAGE = 0.75  # fraction of a window's slots that must hold valid readings
MICRO = 1_000_000.0  # fixed-point scale of the ring sums (micro-ppm)


@dataclass
class SlotRing:
    """Per-row ring of time slots holding integer sums and counts, plus running sums of the windows that end
    at the newest slot (updated as slots enter and leave, so judging a window costs O(1))."""

    n_rows: int
    n_slots: int
    slot_s: float
    widths: tuple[int, ...]  # window lengths in slots, each <= n_slots
    sums: NDArray[np.int64] = field(init=False)
    counts: NDArray[np.uint16] = field(init=False)
    current: NDArray[np.int64] = field(init=False)  # newest slot number, -1: none
    window_sum: NDArray[np.int64] = field(init=False)  # (rows, widths)
    window_count: NDArray[np.int64] = field(init=False)
    window_filled: NDArray[np.int16] = field(init=False)  # slots in the window holding valid readings
    _widths: NDArray[np.int64] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.sums = np.zeros((self.n_rows, self.n_slots), np.int64)
        self.counts = np.zeros((self.n_rows, self.n_slots), np.uint16)
        self.current = np.full(self.n_rows, -1, np.int64)
        shape = (self.n_rows, len(self.widths))
        self.window_sum = np.zeros(shape, np.int64)
        self.window_count = np.zeros(shape, np.int64)
        self.window_filled = np.zeros(shape, np.int16)
        self._widths = np.asarray(self.widths, np.int64)

    @property
    def nbytes(self) -> int:
        """Bytes held."""
        arrays = (self.sums, self.counts, self.current, self.window_sum, self.window_count, self.window_filled)
        return sum(int(a.nbytes) for a in arrays)

    def window_means(self, rows: NDArray[np.intp]) -> NDArray[np.float64]:
        """Means of the windows ending at each row's newest slot, shape (widths, rows); nan if coverage is thin."""
        total, n = self.window_sum[rows], self.window_count[rows]
        covered = (self.window_filled[rows] >= MIN_COVERAGE * self._widths[None, :]) & (n > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            means: NDArray[np.float64] = np.where(covered, total / np.maximum(n, 1) / MICRO, np.nan).T
        return means

    def advance_and_add(
        self, rows: NDArray[np.intp], slot: NDArray[np.int64], sums: NDArray[np.int64], counts: NDArray[np.int64]
    ) -> None:
        """Move rows (unique) to ``slot`` if it is newer, then add a run's sum and count to that slot."""
        cur = self.current[rows]
        ahead = slot > cur
        if ahead.any():
            self._advance(rows[ahead], cur[ahead], slot[ahead])
        cur = self.current[rows]
        # Late readings for a slot still in the ring are added; older ones are dropped.
        keep = slot > cur - self.n_slots
        r, sl, add_sum, add_count = rows[keep], slot[keep], sums[keep], np.minimum(counts[keep], 65535)
        col = sl % self.n_slots
        newly_filled = (self.counts[r, col] == 0) & (add_count > 0)
        self.sums[r, col] += add_sum
        self.counts[r, col] += add_count.astype(np.uint16)
        inside = sl[:, None] > cur[keep][:, None] - self._widths[None, :]
        self.window_sum[r] += np.where(inside, add_sum[:, None], 0)
        self.window_count[r] += np.where(inside, add_count[:, None], 0)
        self.window_filled[r] += (inside & newly_filled[:, None]).astype(np.int16)

    def _advance(self, rows: NDArray[np.intp], cur: NDArray[np.int64], slot: NDArray[np.int64]) -> None:
        """Slide windows from ``cur`` to ``slot`` (slots leave), then clear the ring slots entered."""
        seen = cur >= 0
        r, c, gap = rows[seen], cur[seen], slot[seen] - cur[seen]
        widths = self._widths[None, :]
        # Slots cur-w+1 .. cur-w+gap leave a window of w slots (all of it if gap >= w).
        for j in range(int(min(gap.max(initial=0), self._widths.max()))):
            leaving = (j < gap[:, None]) & (j < widths)
            col = (c[:, None] - widths + 1 + j) % self.n_slots
            out_sum = self.sums[r[:, None], col]
            out_count = self.counts[r[:, None], col].astype(np.int64)
            self.window_sum[r] -= np.where(leaving, out_sum, 0)
            self.window_count[r] -= np.where(leaving, out_count, 0)
            self.window_filled[r] -= (leaving & (out_count > 0)).astype(np.int16)
        single = gap == 1
        if single.any():
            col1 = slot[seen][single] % self.n_slots
            self.sums[r[single], col1] = 0
            self.counts[r[single], col1] = 0
        wide = ~single
        if wide.any():
            k = np.arange(self.n_slots)[None, :]
            clear = ((k - (c[wide] + 1)[:, None]) % self.n_slots) < np.minimum(gap[wide], self.n_slots)[:, None]
            rw = r[wide]
            self.sums[rw] = np.where(clear, 0, self.sums[rw])
            self.counts[rw] = np.where(clear, 0, self.counts[rw])
        self.current[rows] = slot


@dataclass
class GasDetector:
    """Exposure tests for every gas sensor with a known substance."""

    config: CoreConfig
    rows: NDArray[np.intp] = field(init=False)  # sensor -> ring row, -1: not a monitored gas
    row_sensor: NDArray[np.int32] = field(init=False)  # row -> sensor
    minutes: SlotRing = field(init=False)
    half_hours: SlotRing = field(init=False)
    states: dict[str, HysteresisState] = field(init=False)
    # Newest slot of each ring that held a censored reading (at or above full scale), per row; -1: none. A window
    # reaching back to it has a mean that is only a lower bound.
    censored_slot: dict[float, NDArray[np.int64]] = field(init=False)

    def __post_init__(self) -> None:
        c = self.config
        monitored = c.substance >= 0
        self.rows = np.full(c.n_sensors, -1, np.intp)
        self.rows[monitored] = np.arange(int(monitored.sum()))
        self.row_sensor = np.flatnonzero(monitored).astype(np.int32)
        n_rows = int(monitored.sum())
        minute_widths = tuple(sorted({minutes for _, minutes in AEGL_WINDOWS if minutes <= 60} | {15}))
        self.minutes = SlotRing(n_rows, 60, 60.0, minute_widths)
        half_hour_widths = tuple(sorted({minutes // 30 for _, minutes in AEGL_WINDOWS if minutes > 60} | {16}))
        self.half_hours = SlotRing(n_rows, 16, 1800.0, half_hour_widths)
        names = (LEVEL1, LEVEL2, *AEGL_CONDITIONS, STEL_15MIN, TWA_8H)
        self.states = {name: HysteresisState.new(n_rows) for name in names}
        self.censored_slot = {ring.slot_s: np.full(n_rows, -1, np.int64) for ring in (self.minutes, self.half_hours)}

    @property
    def state_nbytes(self) -> int:
        """Bytes of carried state."""
        return (
            self.minutes.nbytes
            + self.half_hours.nbytes
            + self.rows.nbytes
            + self.row_sensor.nbytes
            + sum(s.nbytes for s in self.states.values())
            + sum(int(a.nbytes) for a in self.censored_slot.values())
        )

    def process(
        self,
        batch: SortedBatch,
        value: NDArray[np.float64],
        valid: NDArray[np.bool_],
        censored: NDArray[np.bool_] | None = None,
    ) -> list[ConditionEvents]:
        """Return instantaneous-level and rolling-window transitions for the gas readings in ``batch``.

        A ``censored`` reading (at or above full scale, ``value`` its lower bound) raises every level its lower
        bound reaches and clears none; window means holding one are lower bounds and are marked so.
        """
        c = self.config
        cens = np.zeros_like(valid) if censored is None else censored
        keep = self.rows[batch.sensor] >= 0
        if not keep.all():
            batch, value, valid, cens = batch.subset(keep), value[keep], valid[keep], cens[keep]
        s = batch.sensor
        # From here on the batch is keyed by row (rows follow sensor order, so it stays sorted); events are
        # reported on the sensor again (``report_as``).
        batch = SortedBatch.from_sorted(batch.order, self.rows[s].astype(np.int32), batch.time)
        zero = np.zeros(self.row_sensor.shape[0])
        out: list[ConditionEvents] = []
        counted = valid | cens
        for name, level in ((LEVEL1, c.gas_level1[s]), (LEVEL2, c.gas_level2[s])):
            with np.errstate(invalid="ignore"):
                on = counted & (value >= level)
                off = valid & (value < level * (1.0 - LEVEL_DEADBAND))
            out.append(
                debounce(
                    name, batch, on, off, zero, zero, self.states[name], value, level, self.row_sensor, censored=cens
                )
            )
        # 10/30/60-minute windows on 1-minute slots; 4- and 8-hour windows (and the 8-h TWA) on 30-minute slots.
        minute_windows = [
            (name, minutes, c.gas_aegl[:, col])
            for col, (name, (_, minutes)) in enumerate(zip(AEGL_CONDITIONS, AEGL_WINDOWS, strict=True))
            if minutes <= 60
        ]
        minute_windows.append((STEL_15MIN, 15, c.gas_stel))
        half_hour_windows = [
            (name, minutes // 30, c.gas_aegl[:, col])
            for col, (name, (_, minutes)) in enumerate(zip(AEGL_CONDITIONS, AEGL_WINDOWS, strict=True))
            if minutes > 60
        ]
        half_hour_windows.append((TWA_8H, 16, c.gas_twa))
        out += self._windows(batch, value, valid, cens, self.minutes, minute_windows)
        out += self._windows(batch, value, valid, cens, self.half_hours, half_hour_windows)
        return out

    def _windows(
        self,
        batch: SortedBatch,
        value: NDArray[np.float64],
        valid: NDArray[np.bool_],
        censored: NDArray[np.bool_],
        ring: SlotRing,
        windows: list[tuple[str, int, NDArray[np.float64]]],
    ) -> list[ConditionEvents]:
        """Fold readings into ``ring`` run by run; judge each window when a slot closes."""
        n = value.shape[0]
        if n == 0:
            return []
        counted = valid | censored
        slot = np.floor(batch.time / ring.slot_s).astype(np.int64)
        run_start = np.ones(n, np.bool_)
        run_start[1:] = (batch.sensor[1:] != batch.sensor[:-1]) | (slot[1:] != slot[:-1])
        first = np.flatnonzero(run_start)
        micro = np.where(counted, np.rint(np.nan_to_num(value) * MICRO), 0).astype(np.int64)
        run_sum = np.add.reduceat(micro, first)
        run_count = np.add.reduceat(counted.astype(np.int64), first)
        run_censored = np.add.reduceat(censored.astype(np.int64), first) > 0 if censored.any() else None
        runs = SortedBatch.from_sorted(first, batch.sensor[first], batch.time[first])
        run_slot = slot[first]
        last_censored = self.censored_slot[ring.slot_s]
        column = {width: i for i, width in enumerate(ring.widths)}
        means = np.full((len(ring.widths), first.shape[0]), np.nan)
        bounded = np.zeros((len(ring.widths), first.shape[0]), np.bool_)  # the mean is only a lower bound
        closes = np.zeros(first.shape[0], np.bool_)
        widths = np.asarray(ring.widths, np.int64)[:, None]
        for idx in rank_steps(runs):
            rows = runs.sensor[idx].astype(np.intp)
            cur = ring.current[rows]
            closing = (cur >= 0) & (run_slot[idx] > cur)
            if closing.any():
                ci = idx[closing]
                means[:, ci] = ring.window_means(rows[closing])
                bounded[:, ci] = last_censored[rows[closing]][None, :] > cur[closing][None, :] - widths
                closes[ci] = True
            ring.advance_and_add(rows, run_slot[idx], run_sum[idx], run_count[idx])
            if run_censored is not None:
                hit = run_censored[idx]
                last_censored[rows[hit]] = np.maximum(last_censored[rows[hit]], run_slot[idx][hit])
        if not closes.any():
            return []
        judged = runs.subset(closes)
        zero = np.zeros(self.row_sensor.shape[0])
        out = []
        for name, width, levels in windows:
            mean = means[column[width], closes]
            lower_bound = bounded[column[width], closes]
            level = levels[self.row_sensor[judged.sensor]]
            with np.errstate(invalid="ignore"):
                on = mean >= level
                # A lower-bound mean below the level says nothing about the true mean: it never clears.
                off = (mean < level * (1.0 - WINDOW_DEADBAND)) & ~lower_bound
            if on.any() or self.states[name].active[judged.sensor].any():
                out.append(
                    debounce(
                        name,
                        judged,
                        on,
                        off,
                        zero,
                        zero,
                        self.states[name],
                        mean,
                        level,
                        self.row_sensor,
                        censored=lower_bound,
                    )
                )
        return out
