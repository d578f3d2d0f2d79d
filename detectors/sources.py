"""Sealed-source monitor checks: source missing, shielding breach, tamper, battery low, mains lost.

hazwatch defaults (tune per site): the source is missing after 3 consecutive healthy samples below
max(background + 3 sigma, 20 % of the commissioning baseline). A faulty or saturated detector can fold back
and under-read, so such readings never count as "below" and never clear an alarm: they are not evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from detectors.conditions import ConditionEvents
from detectors.config import BATTERY, MAINS, SOURCE_DOSE, TAMPER, CoreConfig
from detectors.hysteresis import HysteresisState, SortedBatch
from detectors.streams import consecutive, debounce

MISSING = "source.missing"
SHIELDING_BREACH = "source.shielding_breach"
TAMPER_OPEN = "source.tamper"
BATTERY_LOW = "source.battery_low"
MAINS_LOST = "source.mains_lost"

MISSING_SAMPLES = 3
BREACH_DEADBAND = 0.1  # a breach clears below 90 % of its level


@dataclass
class SourceDetector:
    """Per-channel checks of sealed-source monitors; device-level ones are reported on the device's first sensor."""

    config: CoreConfig
    below_count: NDArray[np.int32] = field(init=False)
    states: dict[str, HysteresisState] = field(init=False)
    report_as: NDArray[np.int32] = field(init=False)

    def __post_init__(self) -> None:
        c = self.config
        self.below_count = np.zeros(c.n_sensors, np.int32)
        names = (MISSING, SHIELDING_BREACH, TAMPER_OPEN, BATTERY_LOW, MAINS_LOST)
        self.states = {name: HysteresisState.new(c.n_sensors) for name in names}
        self.report_as = c.device_first_sensor[c.device]

    @property
    def state_nbytes(self) -> int:
        """Bytes of carried state."""
        return int(self.below_count.nbytes) + sum(s.nbytes for s in self.states.values())

    def process(
        self,
        batch: SortedBatch,
        value: NDArray[np.float64],
        valid: NDArray[np.bool_],
        censored: NDArray[np.bool_] | None = None,
    ) -> list[ConditionEvents]:
        """Return source-monitor transitions for the readings of source devices in ``batch`` (sorted order).

        A ``censored`` dose reading (at or above full scale, ``value`` its lower bound) is a breach as soon as
        its lower bound reaches the breach level, and clears neither a breach nor a missing source.
        """
        c = self.config
        kind = c.kind[batch.sensor]
        out: list[ConditionEvents] = []
        zero = np.zeros(c.n_sensors)

        dose = kind == SOURCE_DOSE
        if dose.any():
            b, v, ok = batch.subset(dose), value[dose], valid[dose]
            cens = np.zeros_like(ok) if censored is None else censored[dose]
            s = b.sensor
            missing_level = c.source_missing_level[s]
            with np.errstate(invalid="ignore"):
                below = ok & (v < missing_level)
                above = ok & (v >= missing_level)  # a censored reading clears nothing (it may be a faulty flag)
            count = consecutive(b, below, above, self.below_count)
            out.append(
                debounce(
                    MISSING,
                    b,
                    below & (count >= MISSING_SAMPLES),
                    above,
                    zero,
                    zero,
                    self.states[MISSING],
                    v,
                    missing_level,
                    self.report_as,
                )
            )
            breach_level = c.source_breach_level[s]
            with np.errstate(invalid="ignore"):
                on = (ok | cens) & (v >= breach_level)
                off = ok & (v < breach_level * (1.0 - BREACH_DEADBAND))
            out.append(
                debounce(
                    SHIELDING_BREACH,
                    b,
                    on,
                    off,
                    zero,
                    zero,
                    self.states[SHIELDING_BREACH],
                    v,
                    breach_level,
                    self.report_as,
                    cens,
                )
            )

        t = c.thresholds
        for name, code in ((TAMPER_OPEN, TAMPER), (BATTERY_LOW, BATTERY), (MAINS_LOST, MAINS)):
            mask = kind == code
            if not mask.any():
                continue
            b, v, ok = batch.subset(mask), value[mask], valid[mask]
            s = b.sensor
            if code == BATTERY:
                level = t.low[s]
                with np.errstate(invalid="ignore"):
                    on = ok & (v <= level)
                    off = ok & (v > level + t.deadband[s])
                on_delay, off_delay = t.on_delay_s, t.off_delay_s
            else:
                # Tamper and mains are switches: immediate, no deadband. Tamper is the highest-priority alarm.
                level = np.full(s.shape[0], 0.5)
                switched = v >= 0.5
                on = ok & (switched if code == TAMPER else ~switched)
                off = ok & (~switched if code == TAMPER else switched)
                on_delay, off_delay = zero, zero
            out.append(debounce(name, b, on, off, on_delay, off_delay, self.states[name], v, level, self.report_as))
        return out
