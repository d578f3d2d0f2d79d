"""Level alarms per sensor: high, high-high and low, with deadband and on/off delays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from detectors.conditions import ConditionEvents
from detectors.hysteresis import HysteresisState, SortedBatch, step, transitions

HIGH = "threshold.high"
HIGH_HIGH = "threshold.high_high"
LOW = "threshold.low"


@dataclass(frozen=True, slots=True)
class ThresholdParams:
    """Per-sensor parameters, arrays indexed by sensor number. A nan level disables that level."""

    high: NDArray[np.float64]
    high_high: NDArray[np.float64]
    low: NDArray[np.float64]
    deadband: NDArray[np.float64]
    on_delay_s: NDArray[np.float64]
    off_delay_s: NDArray[np.float64]


@dataclass
class ThresholdDetector:
    """Debounced level comparisons for every sensor at once."""

    params: ThresholdParams
    states: dict[str, HysteresisState] = field(init=False)

    def __post_init__(self) -> None:
        n = self.params.high.shape[0]
        self.states = {name: HysteresisState.new(n) for name in (HIGH, HIGH_HIGH, LOW)}

    def _sensors_with_levels(self) -> NDArray[np.bool_]:
        """Per sensor: has a level, or carries a state that is on (so a reading may change something)."""
        p = self.params
        has = ~(np.isnan(p.high) & np.isnan(p.high_high) & np.isnan(p.low))
        for state in self.states.values():
            has |= state.raw | state.active
        return has

    @property
    def state_nbytes(self) -> int:
        """Bytes of carried state for all sensors."""
        return sum(s.nbytes for s in self.states.values())

    def process(
        self,
        batch: SortedBatch,
        value: NDArray[np.float64],
        valid: NDArray[np.bool_],
        censored: NDArray[np.bool_] | None = None,
    ) -> list[ConditionEvents]:
        """Compare each reading with its sensor's levels; return the transitions of each level.

        ``value`` and ``valid`` are in the batch's sorted order. Invalid readings (quality flags)
        neither raise nor clear a level alarm: they are not decisive. A ``censored`` reading (at or above
        full scale; ``value`` is its lower bound) raises a high level it reaches and clears nothing.
        """
        p = self.params
        # A level rule covers a few kinds of sensor; the rest of a block (most of it, for most rules) has no level
        # and no state to move here: judge only the sensors that have (whole sensors, so the same result).
        kept = self._sensors_with_levels()[batch.sensor]
        if not kept.all():
            if not kept.any():
                return []
            batch, value, valid = batch.subset(kept), value[kept], valid[kept]
            censored = None if censored is None else censored[kept]
        s = batch.sensor
        db = p.deadband[s]
        cens = np.zeros_like(valid) if censored is None else censored
        out: list[ConditionEvents] = []
        for name, levels, high_side in ((HIGH, p.high, True), (HIGH_HIGH, p.high_high, True), (LOW, p.low, False)):
            if np.isnan(levels).all() and not self.states[name].active.any():
                continue  # no sensor has this level (a level rule has one or two of the three): skip the gathers
            level = levels[s]
            has_level = ~np.isnan(level)
            enabled = has_level & valid
            raising = has_level & (valid | cens) if high_side else enabled
            if not raising.any() and not self.states[name].active[s].any():
                continue
            with np.errstate(invalid="ignore"):
                if high_side:
                    on = raising & (value >= level)
                    off = enabled & (value < level - db)
                else:
                    on = enabled & (value <= level)
                    off = enabled & (value > level + db)
            state = self.states[name]
            before = state.active.copy()
            active = step(batch, on, off, p.on_delay_s, p.off_delay_s, state)
            idx = transitions(batch, active, before)
            flagged = cens[idx] if cens[idx].any() else None
            out.append(ConditionEvents(name, s[idx], batch.time[idx], active[idx], value[idx], level[idx], flagged))
        return out
