"""Toxic-gas exposure: instantaneous detector alarm levels (GB/T 50493) and sliding windows against AEGL, STEL, TWA.

Windows slide over the readings' own times: every reading is judged against the window (t - W, t] ending at it.
Per-sensor rings of fixed time slots (1-minute slots for the 10/15/30/60-minute windows, 30-minute slots for the
4- and 8-hour ones and the 8-hour TWA) keep the sums; the slot at a window's trailing edge counts pro rata and at
its highest reading (see ``GasDetector._windows``). A window is judged only if at least three quarters of its
slots hold valid readings. AEGL windows judge the toxic load C^n t as well as the mean (ten Berge, Zwart and
Appelman, "Concentration-time mortality response relationship of irritant and systemically acting vapours and
gases", J. Hazard. Mater. 13 (1986) 301-309; the exponent n of each substance is the one its AEGL technical support
document uses, detectors/substances.py). Concentration sums are integers of micro-ppm so that adding readings one
at a time or a batch at a time gives bit-identical means; toxic loads span too many decades for integers and are
summed in floating point from the slots at each judgement (no running sum to drift).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors.conditions import ConditionEvents
from detectors.config import AEGL_WINDOWS, SUBSTANCE_ORDER, CoreConfig
from detectors.hysteresis import HysteresisState, SortedBatch
from detectors.streams import debounce, rank_steps
from detectors.substances import SUBSTANCES

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
# AIHA ERPGs are "the maximum airborne concentration below which nearly all individuals could be exposed for up
# to 1 hour" (AIHA, Emergency Response Planning Guidelines): judged as the sliding 60-minute mean.
ERPG1_60MIN = "gas.erpg1_60min"
ERPG2_60MIN = "gas.erpg2_60min"
ERPG3_60MIN = "gas.erpg3_60min"
ERPG_CONDITIONS: tuple[str, ...] = (ERPG1_60MIN, ERPG2_60MIN, ERPG3_60MIN)

LEVEL_DEADBAND = 0.1  # an instantaneous alarm clears below 90 % of its level
WINDOW_DEADBAND = 0.05  # a rolling-mean alarm clears below 95 % of its level
MIN_COVERAGE = 0.75  # fraction of a window's slots that must hold valid readings
MICRO = 1_000_000.0  # fixed-point scales of the ring sums (micro-ppm, milli-ppm)
MILLI = 1_000.0
# One reading counts at most LOAD_CAP reference units of (C / reference)^n: far past every AEGL-3, and far from
# overflowing the float32 slot sums however many readings a slot holds.
LOAD_CAP = 1.0e30
# Runs per row, on average, from which a batch's clean rows are folded into a ring at once (``SlotRing.fold_runs``).
FOLD_RUNS_PER_ROW = 3
PEAK_MAX = 65504.0  # largest float16: slot peaks above it (6.5 % by volume) are kept as it, past every AEGL-3


Rows = NDArray[np.intp]
Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
Peaks = NDArray[np.float16]


@dataclass
class SlotRing:
    """Per-row ring of time slots holding integer sums, counts, toxic loads and each slot's highest reading, plus
    running sums of the windows that end at the newest slot (updated as slots enter and leave, so judging a
    window costs O(1)). The ring keeps one slot more than its widest window: the slot at a sliding window's
    trailing edge."""

    n_rows: int
    n_slots: int
    slot_s: float
    widths: tuple[int, ...]  # window lengths in slots, each < n_slots
    # Fixed-point scale of the sums and their integer type: the minute ring keeps int32 sums of milli-ppm (a slot
    # saturates at 2.1e6 ppm-readings, far past every level), the longer ring int64 micro-ppm.
    scale: float = MICRO
    sum_dtype: type[np.signedinteger[Any]] = np.int64
    sums: NDArray[np.signedinteger[Any]] = field(init=False)
    counts: NDArray[np.uint16] = field(init=False)
    loads: NDArray[np.float32] = field(init=False)  # sums of (C / reference)^n, see GasDetector
    peaks: NDArray[np.float16] = field(init=False)  # highest counted reading of the slot, rounded up
    current: NDArray[np.int64] = field(init=False)  # newest slot number, -1: none
    window_sum: NDArray[np.int64] = field(init=False)  # (rows, widths)
    window_count: NDArray[np.int32] = field(init=False)
    window_filled: NDArray[np.int16] = field(init=False)  # slots in the window holding valid readings
    _widths: NDArray[np.int64] = field(init=False, repr=False)
    _sum_max: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if max(self.widths) >= self.n_slots:
            raise ValueError("the ring must hold one slot more than its widest window")
        shape_slots = (self.n_rows, self.n_slots)
        self.sums = np.zeros(shape_slots, self.sum_dtype)
        self._sum_max = int(np.iinfo(self.sum_dtype).max)
        self.counts = np.zeros(shape_slots, np.uint16)
        self.loads = np.zeros(shape_slots, np.float32)
        self.peaks = np.zeros(shape_slots, np.float16)
        self.current = np.full(self.n_rows, -1, np.int64)
        shape = (self.n_rows, len(self.widths))
        self.window_sum = np.zeros(shape, np.int64)
        self.window_count = np.zeros(shape, np.int32)
        self.window_filled = np.zeros(shape, np.int16)
        self._widths = np.asarray(self.widths, np.int64)

    @property
    def nbytes(self) -> int:
        """Bytes held."""
        arrays = (
            self.sums,
            self.counts,
            self.loads,
            self.peaks,
            self.current,
            self.window_sum,
            self.window_count,
            self.window_filled,
        )
        return sum(int(a.nbytes) for a in arrays)

    def window_means(self, rows: NDArray[np.intp]) -> NDArray[np.float64]:
        """Means of the windows ending at each row's newest slot, shape (widths, rows); nan if coverage is thin."""
        total, n = self.window_sum[rows], self.window_count[rows]
        covered = (self.window_filled[rows] >= MIN_COVERAGE * self._widths[None, :]) & (n > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            means: NDArray[np.float64] = np.where(covered, total / np.maximum(n, 1) / self.scale, np.nan).T
        return means

    def window_loads(self, rows: NDArray[np.intp]) -> NDArray[np.float64]:
        """Toxic loads of the windows ending at each row's newest slot, shape (rows, widths).

        Summed from the slots each time, newest first, rather than kept as a running sum: the loads span many
        orders of magnitude (n up to 4.4), and floating-point sums that slots enter and leave would drift.
        """
        cols = (self.current[rows][:, None] - np.arange(int(self._widths.max()))[None, :]) % self.n_slots
        total = np.cumsum(self.loads[rows[:, None], cols], axis=1, dtype=np.float64)
        picked: NDArray[np.float64] = total[:, self._widths - 1]
        return picked

    def trailing(self, rows: NDArray[np.intp]) -> tuple[NDArray[np.int64], NDArray[np.float16]]:
        """Count and highest reading of the slot just before each window (its trailing edge), shape (rows, widths)."""
        col = (self.current[rows][:, None] - self._widths[None, :]) % self.n_slots
        r = rows[:, None]
        return self.counts[r, col].astype(np.int64), self.peaks[r, col]

    def advance_and_add(
        self,
        rows: NDArray[np.intp],
        slot: NDArray[np.int64],
        sums: NDArray[np.int64],
        counts: NDArray[np.int64],
        loads: NDArray[np.float64] | None = None,
        peaks: NDArray[np.float16] | None = None,
    ) -> None:
        """Move rows (unique) to ``slot`` if it is newer, then add a run's sum, count, load and peak to that slot."""
        self.advance(rows, slot)
        cur = self.current[rows]
        # Late readings for a slot still in the ring are added; older ones are dropped.
        keep = slot > cur - self.n_slots
        r, sl, add_sum, add_count = rows[keep], slot[keep], sums[keep], np.minimum(counts[keep], 65535)
        add_load = np.zeros(add_sum.shape[0]) if loads is None else loads[keep]
        col = sl % self.n_slots
        newly_filled = (self.counts[r, col] == 0) & (add_count > 0)
        before = self.sums[r, col].astype(np.int64)
        after = np.clip(before + add_sum, -self._sum_max, self._sum_max)
        self.sums[r, col] = after
        add_sum = after - before  # what the slot took, so windows stay the sums of their slots
        self.counts[r, col] += add_count.astype(np.uint16)
        self.loads[r, col] += add_load
        if peaks is not None:
            self.peaks[r, col] = np.maximum(self.peaks[r, col], peaks[keep])
        inside = sl[:, None] > cur[keep][:, None] - self._widths[None, :]
        self.window_sum[r] += np.where(inside, add_sum[:, None], 0)
        self.window_count[r] += np.where(inside, add_count[:, None], 0).astype(np.int32)
        self.window_filled[r] += (inside & newly_filled[:, None]).astype(np.int16)

    def add_runs_by_slot(
        self,
        rows: NDArray[np.intp],
        slot: NDArray[np.int64],
        sums: NDArray[np.int64],
        counts: NDArray[np.int64],
        loads: NDArray[np.float64],
        peaks: NDArray[np.float16],
    ) -> bool:
        """``advance_and_add`` of every run (sorted by row, then time) in turn, with the runs of a row that share a
        slot added together: what they add is the same whichever way it is grouped (integer sums and counts, the
        highest reading, when no sum is clipped and no count wraps), except the float32 load of the slot, which
        takes each run's load in turn as the runs one by one would. A block of many small batches thus costs one
        step per slot instead of one per batch. False (nothing done) when a sum could be clipped or a count wrap.
        """
        n = rows.shape[0]
        if n == 0:
            return True
        group_start = np.ones(n, np.bool_)
        group_start[1:] = (rows[1:] != rows[:-1]) | (slot[1:] != slot[:-1])
        first = np.flatnonzero(group_start)
        group_count = np.add.reduceat(counts, first)
        group_reach = np.add.reduceat(np.abs(sums), first)
        if (
            int(group_count.max()) + int(self.counts.max(initial=0)) >= 65535
            or int(group_reach.max()) + int(np.abs(self.sums).max(initial=0)) > self._sum_max
        ):
            return False
        group_sum = np.add.reduceat(sums, first)
        group_peak = np.maximum.reduceat(peaks, first)
        length = np.diff(np.append(first, n))
        group_rows, group_slot = rows[first], slot[first]
        groups = SortedBatch.from_sorted(first, group_rows.astype(np.int32), group_slot.astype(np.float64))
        for idx in rank_steps(groups):
            r, sl = group_rows[idx], group_slot[idx]
            self.advance_and_add(r, sl, group_sum[idx], group_count[idx], None, group_peak[idx])
            kept = sl > self.current[r] - self.n_slots  # late runs for a slot no longer in the ring are dropped
            r, col, start, size = r[kept], sl[kept] % self.n_slots, first[idx][kept], length[idx][kept]
            for k in range(int(size.max(initial=0))):
                more = size > k
                self.loads[r[more], col[more]] += loads[start[more] + k]
        return True

    def fold_runs(self, rows: Rows, slot: Ints, sums: Ints, counts: Ints, loads: Floats, peaks: Peaks) -> bool:
        """``advance_and_add`` of every run in turn, for runs sorted by row with each row's slots increasing (one run
        a slot), in one go: each row moves to its newest slot at once (clearing the slots entered), the runs whose
        slots are still in the ring then are added, and the window sums are summed again from the ring. A slot takes
        one run whichever way, and the windows are the sums of their slots, so the ring ends as the runs one by one
        leave it, bit for bit. False (nothing done) when a sum could be clipped or a count wrap.
        """
        n = rows.shape[0]
        if n == 0:
            return True
        row_start = np.ones(n, np.bool_)
        row_start[1:] = rows[1:] != rows[:-1]
        starts = np.flatnonzero(row_start)
        touched = rows[starts]
        if (
            int(counts.max()) + int(self.counts[touched].max()) >= 65535
            or int(np.abs(sums).max()) + int(np.abs(self.sums[touched]).max()) > self._sum_max
        ):
            return False
        lengths = np.diff(np.append(starts, n))
        before = self.current[touched]
        newest = np.maximum(before, slot[starts + lengths - 1])
        # Slots entered (after the row's newest before, up to its newest now) are cleared, as ``_advance`` clears
        # them; a row never seen holds nothing to clear.
        gap = newest - before
        moved = (gap > 0) & (before >= 0)
        if moved.any():
            self._clear_entered(touched[moved], before[moved], gap[moved])
        self.current[touched] = newest
        # A run whose slot has left the ring by the row's newest slot is either dropped as late data or overwritten
        # by a later slot in its place: either way it is not in the ring at the end.
        keep = slot > np.repeat(newest, lengths) - self.n_slots
        r, col = rows[keep], slot[keep] % self.n_slots
        before_sum = self.sums[r, col].astype(np.int64)
        self.sums[r, col] = np.clip(before_sum + sums[keep], -self._sum_max, self._sum_max)
        self.counts[r, col] += np.minimum(counts[keep], 65535).astype(np.uint16)
        self.loads[r, col] += loads[keep]
        self.peaks[r, col] = np.maximum(self.peaks[r, col], peaks[keep])
        self._sum_windows(touched)
        return True

    def _sum_windows(self, rows: NDArray[np.intp]) -> None:
        """Window sums, counts and filled slots of ``rows`` summed from their slots (the newest slot back)."""
        depth = int(self._widths.max())
        cols = (self.current[rows][:, None] - np.arange(depth)[None, :]) % self.n_slots
        r = rows[:, None]
        counts = self.counts[r, cols]
        last = self._widths - 1
        self.window_sum[rows] = np.cumsum(self.sums[r, cols], axis=1, dtype=np.int64)[:, last]
        self.window_count[rows] = np.cumsum(counts, axis=1, dtype=np.int64)[:, last]
        self.window_filled[rows] = np.cumsum(counts > 0, axis=1, dtype=np.int64)[:, last]

    def advance(self, rows: NDArray[np.intp], slot: NDArray[np.int64]) -> None:
        """Move rows (unique) whose newest slot is older than ``slot`` on to it."""
        cur = self.current[rows]
        ahead = slot > cur
        if ahead.any():
            self._advance(rows[ahead], cur[ahead], slot[ahead])

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
            self.window_count[r] -= np.where(leaving, out_count, 0).astype(np.int32)
            self.window_filled[r] -= (leaving & (out_count > 0)).astype(np.int16)
        single = gap == 1
        if single.any():
            col1 = slot[seen][single] % self.n_slots
            rs = r[single]
            self.sums[rs, col1] = 0
            self.counts[rs, col1] = 0
            self.loads[rs, col1] = 0
            self.peaks[rs, col1] = 0.0
        wide = ~single
        if wide.any():
            self._clear_entered(r[wide], c[wide], gap[wide])
        self.current[rows] = slot

    def _clear_entered(self, rows: Rows, cur: Ints, gap: Ints) -> None:
        """Clear the ring slots of ``rows`` that moving ``gap`` slots on from ``cur`` enters (all, past the ring)."""
        k = np.arange(self.n_slots)[None, :]
        clear = ((k - (cur + 1)[:, None]) % self.n_slots) < np.minimum(gap, self.n_slots)[:, None]
        self.sums[rows] = np.where(clear, 0, self.sums[rows])
        self.counts[rows] = np.where(clear, 0, self.counts[rows])
        self.loads[rows] = np.where(clear, 0.0, self.loads[rows])
        self.peaks[rows] = np.where(clear, np.float16(0.0), self.peaks[rows])


def _round_up_half(x: NDArray[np.float64]) -> NDArray[np.float16]:
    """``x`` as float16, rounded up (a slot's peak must stay an upper bound), at most PEAK_MAX."""
    clipped = np.minimum(x, PEAK_MAX)
    half = clipped.astype(np.float16)
    low = half.astype(np.float64) < clipped
    rounded: NDArray[np.float16] = np.where(low, np.nextafter(half, np.float16(np.inf)), half)
    return rounded


@dataclass
class GasDetector:
    """Exposure tests for every gas sensor with a known substance."""

    config: CoreConfig
    rows: NDArray[np.int32] = field(init=False)  # sensor -> ring row, -1: not a monitored gas
    row_sensor: NDArray[np.int32] = field(init=False)  # row -> sensor
    minutes: SlotRing = field(init=False)
    half_hours: SlotRing = field(init=False)
    states: dict[str, HysteresisState] = field(init=False)
    # Newest slot of each ring that held a censored reading (at or above full scale), per row; -1: none. A window
    # reaching back to it has a mean that is only a lower bound.
    censored_slot: dict[float, NDArray[np.int32]] = field(init=False)
    # Newest slot of each ring holding a reading at or above the lowest level judged on that ring, per row; -1: none.
    hot_slot: dict[float, NDArray[np.int32]] = field(init=False)
    # Toxic load per row: the reference level (ppm) loads are expressed in and the ten Berge exponent n.
    load_reference: NDArray[np.float64] = field(init=False)
    load_exponent: NDArray[np.float64] = field(init=False)

    def __post_init__(self) -> None:
        c = self.config
        monitored = c.substance >= 0
        self.rows = np.full(c.n_sensors, -1, np.int32)
        self.rows[monitored] = np.arange(int(monitored.sum()))
        self.row_sensor = np.flatnonzero(monitored).astype(np.int32)
        n_rows = int(monitored.sum())
        minute_widths = tuple(sorted({minutes for _, minutes in AEGL_WINDOWS if minutes <= 60} | {15}))
        self.minutes = SlotRing(n_rows, max(minute_widths) + 1, 60.0, minute_widths, MILLI, np.int32)
        half_hour_widths = tuple(sorted({minutes // 30 for _, minutes in AEGL_WINDOWS if minutes > 60} | {16}))
        self.half_hours = SlotRing(n_rows, max(half_hour_widths) + 1, 1800.0, half_hour_widths)
        names = (LEVEL1, LEVEL2, *AEGL_CONDITIONS, *ERPG_CONDITIONS, STEL_15MIN, TWA_8H)
        self.states = {name: HysteresisState.new(n_rows) for name in names}
        self.censored_slot = {ring.slot_s: np.full(n_rows, -1, np.int32) for ring in (self.minutes, self.half_hours)}
        self.hot_slot = {ring.slot_s: np.full(n_rows, -1, np.int32) for ring in (self.minutes, self.half_hours)}
        aegl = c.gas_aegl[self.row_sensor]
        with np.errstate(invalid="ignore"):
            reference = np.fmin.reduce(np.where(aegl > 0, aegl, np.nan), axis=1) if n_rows else np.zeros(0)
        self.load_reference = np.where(np.isfinite(reference), reference, 1.0)
        exponents = np.array([SUBSTANCES[name].ten_berge_n for name in SUBSTANCE_ORDER], np.float64)
        self.load_exponent = exponents[c.substance[self.row_sensor]] if n_rows else np.zeros(0)

    # Configuration derived on first use (per ring, the lowest level judged per row), kept out of pickled state:
    # checkpoints carry state, and this is rebuilt from the configuration when missing.
    _CACHES = ("_lowest_by_ring", "_levels_by_ring")

    def __getstate__(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key not in self._CACHES}

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
            + sum(int(a.nbytes) for a in self.hot_slot.values())
        )  # load_reference and load_exponent are configuration, not carried state

    def process(
        self,
        batch: SortedBatch,
        value: NDArray[np.float64],
        valid: NDArray[np.bool_],
        censored: NDArray[np.bool_] | None = None,
        arrival: NDArray[np.float64] | None = None,
    ) -> list[ConditionEvents]:
        """Return instantaneous-level and sliding-window transitions for the gas readings in ``batch``.

        A ``censored`` reading (at or above full scale, ``value`` its lower bound) raises every level its lower
        bound reaches and clears none; window means holding one are lower bounds and are marked so. ``arrival``
        (sorted order) is when each reading's own batch arrived, for a block of batches run at once: a slot then
        takes each batch's readings as a separate addition, as the batches one by one would have (floating-point
        load sums depend on how they are grouped).
        """
        c = self.config
        cens = np.zeros_like(valid) if censored is None else censored
        keep = self.rows[batch.sensor] >= 0
        if not keep.all():
            batch, value, valid, cens = batch.subset(keep), value[keep], valid[keep], cens[keep]
            arrival = None if arrival is None else arrival[keep]
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
        # 10/15/30/60-minute windows on 1-minute slots; 4- and 8-hour windows (and the 8-h TWA) on 30-minute slots.
        # AEGL windows judge the toxic load as well as the mean; the occupational STEL and TWA are means by
        # definition (GBZ 2.1), and ERPGs are 1-hour levels without a time scaling of their own.
        minute_windows = [
            (name, minutes, c.gas_aegl[:, col], True)
            for col, (name, (_, minutes)) in enumerate(zip(AEGL_CONDITIONS, AEGL_WINDOWS, strict=True))
            if minutes <= 60
        ]
        minute_windows.append((STEL_15MIN, 15, c.gas_stel, False))
        minute_windows += [(name, 60, c.gas_erpg[:, tier], False) for tier, name in enumerate(ERPG_CONDITIONS)]
        half_hour_windows = [
            (name, minutes // 30, c.gas_aegl[:, col], True)
            for col, (name, (_, minutes)) in enumerate(zip(AEGL_CONDITIONS, AEGL_WINDOWS, strict=True))
            if minutes > 60
        ]
        half_hour_windows.append((TWA_8H, 16, c.gas_twa, False))
        # What both rings take from each reading: the value counted (0 if none) and its toxic load.
        taken = np.nan_to_num(value)
        load = self._load(batch.sensor.astype(np.intp), taken)
        if not counted.all():
            taken = np.where(counted, taken, 0.0)
            load = np.where(counted, load, 0.0)
        out += self._windows(batch, valid, cens, self.minutes, minute_windows, arrival, taken, load)
        out += self._windows(batch, valid, cens, self.half_hours, half_hour_windows, arrival, taken, load)
        return out

    def _load(self, rows: NDArray[np.intp], value: NDArray[np.float64]) -> NDArray[np.float64]:
        """Toxic load per reading in reference units, (C / reference)^n, capped (see LOAD_CAP)."""
        ratio = np.maximum(np.nan_to_num(value), 0.0) / self.load_reference[rows]
        with np.errstate(over="ignore"):
            load: NDArray[np.float64] = np.minimum(ratio ** self.load_exponent[rows], LOAD_CAP)
        return load

    def _load_grid(self, rows: NDArray[np.int32] | NDArray[np.intp], peaks: NDArray[np.float64]) -> NDArray[np.float64]:
        """``_load`` of a (rows, widths) grid of concentrations."""
        flat = self._load(np.repeat(rows.astype(np.intp), peaks.shape[1]), peaks.ravel())
        return flat.reshape(peaks.shape)

    def _lowest_levels(
        self, ring: SlotRing, windows: list[tuple[str, int, NDArray[np.float64], bool]]
    ) -> NDArray[np.float64]:
        """The lowest level judged on ``ring`` per row (nan: none). Configuration: made once per ring and kept as a
        plain attribute, not a dataclass field, so that checkpoints saved before it load as they are."""
        cache: dict[float, NDArray[np.float64]] = self.__dict__.setdefault("_lowest_by_ring", {})
        lowest = cache.get(ring.slot_s)
        if lowest is None:
            lowest = np.full(self.row_sensor.shape[0], np.nan)
            for _, _, levels, _ in windows:
                lowest = np.fmin(lowest, levels[self.row_sensor])
            cache[ring.slot_s] = lowest
        return lowest

    def _level_table(
        self, ring: SlotRing, windows: list[tuple[str, int, NDArray[np.float64], bool]]
    ) -> tuple[NDArray[np.float64], NDArray[np.intp], NDArray[np.bool_]]:
        """Per ring: every window's level per row (rows, windows), each window's column in the ring's widths, and
        whether it judges the toxic load. Configuration, cached like ``_lowest_levels``: with it a batch judges all
        of a ring's windows in a few array operations instead of a few per window."""
        cache: dict[float, tuple[NDArray[np.float64], NDArray[np.intp], NDArray[np.bool_]]] = self.__dict__.setdefault(
            "_levels_by_ring", {}
        )
        table = cache.get(ring.slot_s)
        if table is None:
            column = {width: i for i, width in enumerate(ring.widths)}
            levels = np.stack([levels[self.row_sensor] for _, _, levels, _ in windows], axis=1)
            columns = np.array([column[width] for _, width, _, _ in windows], np.intp)
            toxic = np.array([toxic_load for _, _, _, toxic_load in windows], np.bool_)
            table = cache[ring.slot_s] = (levels, columns, toxic)
        return table

    def _may_change(
        self,
        rows: NDArray[np.intp],
        ring: SlotRing,
        windows: list[tuple[str, int, NDArray[np.float64], bool]],
        sum_bound: NDArray[np.float64],
        load_bound: NDArray[np.float64],
        count_bound: NDArray[np.int64],
        on_or_raw: NDArray[np.bool_],
    ) -> NDArray[np.bool_]:
        """Runs whose readings may turn a window on or off: an upper bound of any of their exposures reaches the
        lowest level judged on that window, or a window of theirs is on. In clean air this skips nearly every
        reading, which changes nothing: an off state with no reading above its level stays off.

        ``sum_bound``, ``load_bound`` (rows, widths): the largest concentration and load sums any reading of the run
        can see (its whole run, the whole trailing slot at its peak); ``count_bound``: the fewest readings;
        ``on_or_raw`` (per row): some window of the ring on, or raw on.
        """
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            mean = sum_bound / count_bound
            equivalent = self.load_reference[rows][:, None] * (load_bound / count_bound) ** (
                1.0 / self.load_exponent[rows][:, None]
            )
        levels, columns, toxic = self._level_table(ring, windows)
        mean = mean[:, columns]
        exposure = np.where(toxic, np.fmax(mean, equivalent[:, columns]), mean)
        with np.errstate(invalid="ignore"):
            reaches = exposure >= levels[rows]
        may: NDArray[np.bool_] = reaches.any(axis=1) | on_or_raw[rows]
        return may

    def _windows(
        self,
        batch: SortedBatch,
        valid: NDArray[np.bool_],
        censored: NDArray[np.bool_],
        ring: SlotRing,
        windows: list[tuple[str, int, NDArray[np.float64], bool]],
        arrival: NDArray[np.float64] | None,
        taken: NDArray[np.float64],
        load: NDArray[np.float64],
    ) -> list[ConditionEvents]:
        """Fold readings into ``ring`` run by run and judge every window at every reading.

        ``taken`` is each reading's value as counted (0 where it is not counted, finite), ``load`` its toxic load
        (0 where not counted): the same for both rings, so made once.

        The window ending at a reading at time t spans (t - W, t]: the whole slots after the one holding t - W,
        the readings so far of the current slot, and the part of the trailing slot after t - W. How that slot's
        readings fall inside it is not kept, so they count pro rata by time and at the slot's highest reading:
        the judged mean and load are never below the true sliding ones, and equal them when that slot was level
        (an exposure of exactly W that starts mid-slot is caught).
        """
        n = taken.shape[0]
        if n == 0:
            return []
        counted = valid | censored
        rows_r = batch.sensor.astype(np.intp)
        slot = np.floor(batch.time / ring.slot_s).astype(np.int64)
        run_start = np.ones(n, np.bool_)
        run_start[1:] = (batch.sensor[1:] != batch.sensor[:-1]) | (slot[1:] != slot[:-1])
        if arrival is not None:
            run_start[1:] |= arrival[1:] != arrival[:-1]
        first = np.flatnonzero(run_start)
        micro = np.rint(taken * ring.scale).astype(np.int64)
        count = counted.astype(np.int64)
        cens_count = censored.astype(np.int64)
        run_sum = np.add.reduceat(micro, first)
        run_count = np.add.reduceat(count, first)
        run_load = np.add.reduceat(load, first)
        run_peak = _round_up_half(np.maximum.reduceat(taken, first))
        run_censored = np.add.reduceat(cens_count, first) > 0
        runs = SortedBatch.from_sorted(first, batch.sensor[first], batch.time[first])
        run_slot = slot[first]
        last_censored = self.censored_slot[ring.slot_s]
        n_runs, n_widths = first.shape[0], len(ring.widths)
        widths = np.asarray(ring.widths, np.int64)
        # Each run's window state just before its readings are added (runs for a slot older than the newest are
        # late data: added, not judged).
        base_sum = np.zeros((n_runs, n_widths), np.int64)
        base_count = np.zeros((n_runs, n_widths), np.int64)
        base_load = np.zeros((n_runs, n_widths), np.float64)
        base_filled = np.zeros((n_runs, n_widths), np.int64)
        trail_count = np.zeros((n_runs, n_widths), np.int64)
        trail_peak = np.zeros((n_runs, n_widths), np.float64)
        base_bounded = np.zeros((n_runs, n_widths), np.bool_)
        slot_empty = np.zeros(n_runs, np.bool_)
        judged_run = np.zeros(n_runs, np.bool_)
        # A window can reach its level only if some reading in it (or in its trailing slot) does: rows with no
        # reading at or above the ring's lowest level within its widest window, no window on and no earlier
        # candidate run in this batch are not judged, and their window state is not even gathered.
        lowest = self._lowest_levels(ring, windows)
        active = np.zeros(self.row_sensor.shape[0], np.bool_)
        for name, _, _, _ in windows:
            active |= self.states[name].active | self.states[name].raw
        with np.errstate(invalid="ignore"):
            hot_reading = counted & (taken >= lowest[rows_r])
        run_hot = np.add.reduceat(hot_reading.astype(np.int64), first) > 0
        hot_slot = self.hot_slot[ring.slot_s]
        touched = np.zeros(self.row_sensor.shape[0], np.bool_)
        reach = int(widths.max())
        run_rows = runs.sensor.astype(np.intp)
        near = run_hot | (hot_slot[run_rows] >= run_slot - reach) | active[run_rows]
        # Folding a row's runs at once sums its windows again from the whole ring: cheaper than going run by run
        # only when a row has several runs (a replay's block; a live batch holds a slot or two of each sensor).
        several = runs.segment_starts.shape[0] * FOLD_RUNS_PER_ROW <= n_runs
        if not near.any():
            # Clean air everywhere in the batch (the common case): only fold the readings in, at once where a way
            # applies (by slot for live arrivals, by row for a replay's block), else run by run below.
            ring_runs = (run_rows, run_slot, run_sum, run_count, run_load, run_peak)
            if (arrival is not None and ring.add_runs_by_slot(*ring_runs)) or (
                arrival is None and several and ring.fold_runs(*ring_runs)
            ):
                np.maximum.at(last_censored, run_rows[run_censored], run_slot[run_censored].astype(np.int32))
                return []
            for idx in rank_steps(runs):
                rows = run_rows[idx]
                ring.advance_and_add(rows, run_slot[idx], run_sum[idx], run_count[idx], run_load[idx], run_peak[idx])
                hit = run_censored[idx]
                last_censored[rows[hit]] = np.maximum(last_censored[rows[hit]], run_slot[idx][hit])
            return []
        # Rows none of whose runs is near a level (no window on, no reading at or above the lowest level, none
        # within the widest window before) are never judged in this batch: they are folded in at once, and only the
        # others go run by run.
        stepped = runs
        if arrival is None and several:
            row_near = np.logical_or.reduceat(near, runs.segment_starts)
            cold = ~row_near[np.cumsum(runs.segment_first == np.arange(n_runs)) - 1]
            if cold.any() and ring.fold_runs(
                run_rows[cold], run_slot[cold], run_sum[cold], run_count[cold], run_load[cold], run_peak[cold]
            ):
                hit = cold & run_censored
                np.maximum.at(last_censored, run_rows[hit], run_slot[hit].astype(np.int32))
                warm_runs = ~cold
                stepped = SortedBatch.from_sorted(
                    np.flatnonzero(warm_runs), runs.sensor[warm_runs], runs.time[warm_runs]
                )
        for step_at in rank_steps(stepped):
            idx = step_at if stepped is runs else stepped.order[step_at]
            rows = runs.sensor[idx].astype(np.intp)
            ring.advance(rows, run_slot[idx])
            cur = ring.current[rows]
            now = (run_slot[idx] == cur) & (
                (hot_slot[rows] >= cur - reach) | run_hot[idx] | active[rows] | touched[rows]
            )
            touched[rows[now]] = True
            ji, jr, jc = idx[now], rows[now], cur[now]
            if ji.shape[0]:
                base_sum[ji] = ring.window_sum[jr]
                base_count[ji] = ring.window_count[jr]
                base_load[ji] = ring.window_loads(jr)
                base_filled[ji] = ring.window_filled[jr]
                tc, tp = ring.trailing(jr)
                trail_count[ji], trail_peak[ji] = tc, tp
                base_bounded[ji] = last_censored[jr][:, None] >= jc[:, None] - widths[None, :]
                slot_empty[ji] = ring.counts[jr, jc % ring.n_slots] == 0
                judged_run[ji] = True
            ring.advance_and_add(rows, run_slot[idx], run_sum[idx], run_count[idx], run_load[idx], run_peak[idx])
            hit = run_censored[idx]
            last_censored[rows[hit]] = np.maximum(last_censored[rows[hit]], run_slot[idx][hit])
            warm = run_hot[idx]
            hot_slot[rows[warm]] = np.maximum(hot_slot[rows[warm]], run_slot[idx][warm])
        if not judged_run.any():
            return []
        cand = np.flatnonzero(judged_run)  # (bounds of the other runs are not gathered: they are not judged)
        may = np.zeros(n_runs, np.bool_)
        # The toxic load of each candidate run's trailing slot at its peak: the bound below, and the judged readings'
        # own trailing load further down (a judged reading's run is a candidate).
        trail_load = np.zeros((n_runs, n_widths))
        trail_load[cand] = self._load_grid(run_rows[cand], trail_peak[cand])
        may[cand] = self._may_change(
            run_rows[cand],
            ring,
            windows,
            (base_sum[cand] + np.maximum(run_sum[cand], 0)[:, None]) / ring.scale
            + trail_count[cand] * trail_peak[cand],
            base_load[cand] + run_load[cand][:, None] + trail_count[cand] * trail_load[cand],
            np.maximum(base_count[cand], 1),
            active,
        )
        # Once a run of a row may change a state, every later run of that row in the batch is judged too (the state
        # it may have turned on must be able to turn off again).
        idx = np.arange(n_runs)
        since = np.maximum.accumulate(np.where(may, idx, -1))
        judged_run &= since >= runs.segment_first
        run_of = np.cumsum(run_start) - 1
        judged = judged_run[run_of]
        if not judged.any():
            return []

        def prefix(x: NDArray[np.int64]) -> NDArray[np.int64]:
            """Sum of x over the reading's run up to and including it."""
            total = np.cumsum(x)
            own: NDArray[np.int64] = total - (total[first] - x[first])[run_of]
            return own

        r = run_of[judged]
        own_sum, own_count = prefix(micro)[judged][:, None], prefix(count)[judged][:, None]
        # Loads of one run are summed relative to the run's largest, so that a batch whose earlier runs held loads
        # decades larger does not swamp this run's prefix sums in rounding.
        scale = np.maximum.reduceat(load, first)
        scale = np.where(scale > 0, scale, 1.0)[run_of]
        relative = np.cumsum(load / scale)
        own_load = ((relative - (relative[first] - (load / scale)[first])[run_of]) * scale)[judged][:, None]
        own_cens = prefix(cens_count)[judged]
        row = rows_r[judged]
        time = batch.time[judged]
        fraction = np.clip(run_slot[r] + 1 - time / ring.slot_s, 0.0, 1.0)[:, None]
        trail_n = fraction * trail_count[r]
        peak_load = trail_load[r]
        n_total = base_count[r] + own_count + trail_n
        filled = base_filled[r] + (slot_empty[r][:, None] & (own_count > 0))
        covered = (filled >= MIN_COVERAGE * widths[None, :]) & (base_count[r] + own_count > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = ((base_sum[r] + own_sum) / ring.scale + trail_n * trail_peak[r]) / n_total
            mean_load = (base_load[r] + own_load + trail_n * peak_load) / n_total
            equivalent = self.load_reference[row][:, None] * mean_load ** (1.0 / self.load_exponent[row][:, None])
        mean = np.where(covered, mean, np.nan)
        # The concentration that, held for the whole window, gives the same C^n t (ten Berge et al. 1986): above the
        # mean whenever the exposure fluctuates and n > 1.
        equivalent = np.where(covered, np.fmax(equivalent, mean), np.nan)
        bounded = base_bounded[r] | (own_cens > 0)[:, None]
        judged_batch = batch.subset(judged)
        zero = np.zeros(self.row_sensor.shape[0])
        # Every window of the ring at once (judged readings x windows): the exposure it judges, its level, on, off.
        levels, columns, toxic = self._level_table(ring, windows)
        exposures = np.where(toxic, equivalent[:, columns], mean[:, columns])
        lower_bounds = bounded[:, columns]
        level = levels[row]
        with np.errstate(invalid="ignore"):
            on = exposures >= level
            # A lower-bound exposure below the level says nothing about the true one: it never clears.
            off = (exposures < level * (1.0 - WINDOW_DEADBAND)) & ~lower_bounds
        any_on = on.any(axis=0).tolist()
        out = []
        for k, (name, _, _, _) in enumerate(windows):
            if any_on[k] or self.states[name].active[judged_batch.sensor].any():
                out.append(
                    debounce(
                        name,
                        judged_batch,
                        on[:, k],
                        off[:, k],
                        zero,
                        zero,
                        self.states[name],
                        exposures[:, k],
                        level[:, k],
                        self.row_sensor,
                        censored=lower_bounds[:, k],
                    )
                )
        return out
