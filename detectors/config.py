"""Configuration of the detection core: per-sensor and per-device parameter arrays with sensible defaults."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors.kinds import KIND_CODES, KINDS_BY_CODE, PHYSICAL_RANGE, Kind
from detectors.substances import AEGL_DURATIONS_MIN, SUBSTANCES
from detectors.thresholds import ThresholdParams

GAMMA = KIND_CODES[Kind.GAMMA_DOSE_RATE]
SOURCE_DOSE = KIND_CODES[Kind.SOURCE_DOSE_RATE]
GAS = KIND_CODES[Kind.GAS]
RAIN = KIND_CODES[Kind.RAIN_RATE]
TAMPER = KIND_CODES[Kind.TAMPER]
BATTERY = KIND_CODES[Kind.BATTERY_VOLTAGE]
MAINS = KIND_CODES[Kind.MAINS_POWER]
LATITUDE = KIND_CODES[Kind.LATITUDE]
LONGITUDE = KIND_CODES[Kind.LONGITUDE]
HDOP = KIND_CODES[Kind.HDOP]

# Order of substances for ``CoreConfig.substance`` (index into this tuple; -1 = none).
SUBSTANCE_ORDER: tuple[str, ...] = tuple(SUBSTANCES)
# Columns of ``CoreConfig.gas_aegl``: (condition suffix, window minutes), every published AEGL duration per level.
AEGL_WINDOWS: tuple[tuple[str, int], ...] = tuple(
    (f"aegl{level}_{minutes}min" if minutes <= 60 else f"aegl{level}_{minutes // 60}h", minutes)
    for level in (1, 2, 3)
    for minutes in AEGL_DURATIONS_MIN
)

# How long identical readings must last before a sensor is "stuck" (seconds; 0 disables), whatever its report
# interval (at least MIN_STUCK_READINGS readings too, quality.py). Gamma counting always fluctuates, so ten minutes
# of equal values mean a frozen transmitter. Gas sensors legitimately sit at one value in clean air, so only an
# hour of identical non-zero readings counts. Booleans, rain and positions of fixed devices are constant by nature.
_STUCK_S: dict[Kind, float] = {
    Kind.GAMMA_DOSE_RATE: 600.0,
    Kind.SOURCE_DOSE_RATE: 600.0,
    Kind.GAS: 3600.0,
    Kind.WIND_SPEED: 3600.0,
    Kind.WIND_DIRECTION: 3600.0,
    Kind.TEMPERATURE: 3600.0,
}
# Largest credible change between two readings. None for hazard kinds: a real release can rise as fast
# as it likes, and flagging it as a glitch would hide it.
_MAX_STEP: dict[Kind, float] = {Kind.TEMPERATURE: 10.0, Kind.BATTERY_VOLTAGE: 5.0}
# Kinds for which a reading of exactly zero is implausible (a dose rate never drops to zero).
_ZERO_IMPLAUSIBLE = frozenset({Kind.GAMMA_DOSE_RATE, Kind.SOURCE_DOSE_RATE})
# Hazard kinds: a reading at full scale is a saturated detector, never a measurement.
HAZARD_KINDS = frozenset({Kind.GAMMA_DOSE_RATE, Kind.SOURCE_DOSE_RATE, Kind.GAS})
# Gamma stations are left to the Poisson-aware rise test (gamma.py): a generic EWMA test on counting data
# would only repeat its alarms with worse statistics.
_ANOMALY_KINDS = frozenset({Kind.SOURCE_DOSE_RATE, Kind.GAS, Kind.GENERIC})
# How long a shift or drift lasts before it becomes the new normal, in report intervals. A generic channel
# (flow, pressure) that moved and stayed is news once; at a hazard channel a lasting anomaly is a finding
# the hazard tests keep alarming on, so the anomaly baseline waits a day's worth of readings.
_REBASELINE_INTERVALS: dict[Kind, float] = {Kind.GENERIC: 100.0}
_HAZARD_REBASELINE_INTERVALS = 2880.0
# After an onset the anomaly score stays 0 this many report intervals: one event is reported once.
_HOLD_INTERVALS = 100.0
# Fold-back / dead-probe test (quality.py): a fall by FOLDBACK_RATIO or more, within two report intervals, from a
# reading at or above the "high" level is not credible. GM counters paralyse in strong fields and read low or zero
# (Knoll, Radiation Detection and Measurement, 4th ed., ch. 7, dead time); a field does not vanish by two orders of
# magnitude in a minute at a fixed probe. High: 10 % of full scale, at most 10 uSv/h (100x natural background) for
# dose rate; half of full scale for gas cells (a cell poisoned by a release drops from near full scale to zero).
FOLDBACK_RATIO = 100.0
_FOLDBACK_HIGH_FS_FRACTION: dict[Kind, float] = {
    Kind.GAMMA_DOSE_RATE: 0.1,
    Kind.SOURCE_DOSE_RATE: 0.1,
    Kind.GAS: 0.5,
}
_FOLDBACK_HIGH_CAP: dict[Kind, float] = {Kind.GAMMA_DOSE_RATE: 1.0e4, Kind.SOURCE_DOSE_RATE: 1.0e4}
# Smallest standard deviation the anomaly baseline assumes, so a perfectly quiet channel does not turn
# every least-significant-bit change into a spike.
_SIGMA_FLOOR: dict[Kind, float] = {Kind.GAMMA_DOSE_RATE: 5.0, Kind.SOURCE_DOSE_RATE: 5.0, Kind.GAS: 0.05}


def _f(n: int, value: float = np.nan) -> NDArray[np.float64]:
    return np.full(n, value, np.float64)


def _own_rain_sensor(kinds: list[Kind], device: NDArray[np.int32]) -> NDArray[np.int32]:
    """Per gamma station, its own device's rain sensor (-1 none, and for every other sensor)."""
    out = np.full(len(kinds), -1, np.int32)
    rain = {int(device[i]): i for i, k in enumerate(kinds) if k is Kind.RAIN_RATE}
    for i, k in enumerate(kinds):
        if k is Kind.GAMMA_DOSE_RATE:
            out[i] = rain.get(int(device[i]), -1)
    return out


@dataclass(frozen=True)
class CoreConfig:
    """Everything the detection core needs, as arrays indexed by sensor (or device) number."""

    kind: NDArray[np.int8]
    device: NDArray[np.int32]
    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    report_interval_s: NDArray[np.float64]
    range_min: NDArray[np.float64]
    range_max: NDArray[np.float64]
    full_scale: NDArray[np.float64]  # nan: not known
    thresholds: ThresholdParams
    # data quality
    stuck_s: NDArray[np.float64]
    zero_implausible: NDArray[np.bool_]
    max_step: NDArray[np.float64]
    hazard: NDArray[np.bool_]
    foldback_high: NDArray[np.float64]  # nan: from full scale and kind (see foldback_levels)
    foldback_ratio: NDArray[np.float64]
    # anomaly baseline
    anomaly_enabled: NDArray[np.bool_]
    sigma_floor: NDArray[np.float64]
    anomaly_rebaseline_s: NDArray[np.float64]  # a shift or drift this old becomes the new normal
    anomaly_hold_s: NDArray[np.float64]  # the anomaly score stays 0 this long after an onset
    # gamma stations
    gamma_cps_per_nsv_h: NDArray[np.float64]
    gamma_rise_fraction: NDArray[np.float64]
    rain_sensor: NDArray[np.int32]  # nearest weather station's rain sensor, -1 none
    # CSR: every rain sensor within the rain radius of station i, its own device's first (empty: use rain_sensor)
    rain_gauge_offsets: NDArray[np.int32]
    rain_gauge_index: NDArray[np.int32]
    # The rain sensor whose rate stands for the rain at station i (washout.py scales the washout ceiling with it): its
    # own device's, else a weather station's close enough to share its rain (rules/sensor_table.py); -1: none, the
    # rain rate at the station is unknown.
    rain_rate_sensor: NDArray[np.int32]
    neighbour_offsets: NDArray[np.int32]  # CSR: neighbours of i are neighbour_index[off[i]:off[i+1]]
    neighbour_index: NDArray[np.int32]
    # gases
    substance: NDArray[np.int16]  # index into SUBSTANCE_ORDER, -1 none
    gas_level1: NDArray[np.float64]
    gas_level2: NDArray[np.float64]
    gas_aegl: NDArray[np.float64]  # (n, len(AEGL_WINDOWS))
    gas_stel: NDArray[np.float64]
    gas_twa: NDArray[np.float64]
    gas_erpg: NDArray[np.float64]  # (n, 3): ERPG-1/2/3, nan where none is published
    # sealed sources (per sensor: the dose channel)
    source_baseline: NDArray[np.float64]
    source_category: NDArray[np.int8]  # 0: not a source monitor
    source_missing_level: NDArray[np.float64]
    source_breach_level: NDArray[np.float64]
    # devices
    device_first_sensor: NDArray[np.int32]
    device_interval_s: NDArray[np.float64]
    device_is_source: NDArray[np.bool_]
    geofence_lat: NDArray[np.float64]  # circle centre, nan: no circle
    geofence_lon: NDArray[np.float64]
    geofence_radius_m: NDArray[np.float64]
    polygon_offsets: NDArray[np.int32]  # CSR over polygon_lat/polygon_lon; empty range: no polygon
    polygon_lat: NDArray[np.float64]
    polygon_lon: NDArray[np.float64]
    hdop_max: NDArray[np.float64]
    # timing
    offline_intervals: float = 3.0  # missed report intervals before a device is offline
    max_clock_skew_s: float = 300.0
    capture_min_ratio: float = 0.95

    @property
    def n_sensors(self) -> int:
        """Number of sensors."""
        return int(self.kind.shape[0])

    @property
    def n_devices(self) -> int:
        """Number of devices."""
        return int(self.device_first_sensor.shape[0])

    @classmethod
    def build(
        cls,
        kinds: list[Kind],
        device: NDArray[np.int32] | list[int] | None = None,
        *,
        substances: list[str | None] | None = None,
        **overrides: Any,
    ) -> CoreConfig:
        """Defaults for each sensor from its kind (and gas), then any array given in ``overrides``.

        ``device`` defaults to one device per sensor. Gas limits come from the substance table.
        """
        n = len(kinds)
        dev = np.arange(n, dtype=np.int32) if device is None else np.asarray(device, np.int32)
        n_dev = int(dev.max()) + 1 if n else 0
        first = np.full(n_dev, -1, np.int32)
        for i in range(n - 1, -1, -1):  # config time, not the hot path
            first[dev[i]] = i
        interval = _f(n, 60.0)
        if "report_interval_s" in overrides:
            interval = np.asarray(overrides["report_interval_s"], np.float64)
        subs = substances if substances is not None else [None] * n
        substance_idx = np.array([SUBSTANCE_ORDER.index(s) if s in SUBSTANCES else -1 for s in subs], np.int16)
        level1, level2, stel, twa = _f(n), _f(n), _f(n), _f(n)
        aegl = np.full((n, len(AEGL_WINDOWS)), np.nan)
        erpg = np.full((n, 3), np.nan)
        for i, name in enumerate(subs):
            if name not in SUBSTANCES:
                continue
            sub = SUBSTANCES[name]
            level1[i] = sub.occupational_limit_ppm
            level2[i] = 2.0 * sub.occupational_limit_ppm
            aegl[i] = [
                np.nan if values is None else value
                for values in (sub.aegl(1), sub.aegl(2), sub.aegl(3))
                for value in (values if values is not None else (np.nan,) * len(AEGL_DURATIONS_MIN))
            ]
            erpg[i] = [np.nan if value is None else value for value in sub.erpg]
            if sub.twa_limit_mg_m3 is not None:
                # Where a PC-TWA exists, the occupational limit in the table is the PC-STEL.
                stel[i] = sub.occupational_limit_ppm
                twa[i] = sub.mg_m3_to_ppm(sub.twa_limit_mg_m3)
        config = cls(
            kind=np.array([KIND_CODES[k] for k in kinds], np.int8),
            device=dev,
            lat=_f(n, 0.0),
            lon=_f(n, 0.0),
            report_interval_s=interval,
            range_min=np.array([PHYSICAL_RANGE[k][0] for k in kinds], np.float64),
            range_max=np.array([PHYSICAL_RANGE[k][1] for k in kinds], np.float64),
            full_scale=_f(n),
            thresholds=ThresholdParams(_f(n), _f(n), _f(n), _f(n, 0.0), _f(n, 0.0), _f(n, 0.0)),
            stuck_s=np.array([_STUCK_S.get(k, 0.0) for k in kinds], np.float64),
            zero_implausible=np.array([k in _ZERO_IMPLAUSIBLE for k in kinds], np.bool_),
            max_step=np.array([_MAX_STEP.get(k, np.nan) for k in kinds], np.float64),
            hazard=np.array([k in HAZARD_KINDS for k in kinds], np.bool_),
            foldback_high=_f(n),
            foldback_ratio=_f(n, FOLDBACK_RATIO),
            anomaly_enabled=np.array([k in _ANOMALY_KINDS for k in kinds], np.bool_),
            sigma_floor=np.array([_SIGMA_FLOOR.get(k, 0.0) for k in kinds], np.float64),
            anomaly_rebaseline_s=interval
            * np.array([_REBASELINE_INTERVALS.get(k, _HAZARD_REBASELINE_INTERVALS) for k in kinds], np.float64),
            anomaly_hold_s=interval * _HOLD_INTERVALS,
            gamma_cps_per_nsv_h=_f(n, 0.1),
            gamma_rise_fraction=_f(n, 0.3),
            rain_sensor=np.full(n, -1, np.int32),
            rain_gauge_offsets=np.zeros(n + 1, np.int32),
            rain_gauge_index=np.zeros(0, np.int32),
            rain_rate_sensor=_own_rain_sensor(kinds, dev),
            neighbour_offsets=np.zeros(n + 1, np.int32),
            neighbour_index=np.zeros(0, np.int32),
            substance=substance_idx,
            gas_level1=level1,
            gas_level2=level2,
            gas_aegl=aegl,
            gas_stel=stel,
            gas_twa=twa,
            gas_erpg=erpg,
            source_baseline=_f(n),
            source_category=np.zeros(n, np.int8),
            source_missing_level=_f(n),
            source_breach_level=_f(n),
            device_first_sensor=first,
            device_interval_s=interval[first] if n else _f(0),
            device_is_source=np.zeros(n_dev, np.bool_),
            geofence_lat=_f(n_dev),
            geofence_lon=_f(n_dev),
            geofence_radius_m=_f(n_dev),
            polygon_offsets=np.zeros(n_dev + 1, np.int32),
            polygon_lat=_f(0),
            polygon_lon=_f(0),
            hdop_max=_f(n_dev, 5.0),
        )
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown CoreConfig fields: {sorted(unknown)}")
        config = replace(config, **overrides)
        if "report_interval_s" in overrides and "device_interval_s" not in overrides and n:
            config = replace(config, device_interval_s=config.report_interval_s[config.device_first_sensor])
        return config

    def foldback_levels(self) -> NDArray[np.float64]:
        """Per sensor, the reading from which a fall by ``foldback_ratio`` is not credible (nan: no test)."""
        kinds = [KINDS_BY_CODE[int(k)] for k in self.kind]
        fraction = np.array([_FOLDBACK_HIGH_FS_FRACTION.get(k, np.nan) for k in kinds], np.float64)
        cap = np.array([_FOLDBACK_HIGH_CAP.get(k, np.inf) for k in kinds], np.float64)
        from_scale = np.fmin(fraction * self.full_scale, cap)  # fmin: an unknown full scale leaves the cap
        from_scale = np.where(np.isfinite(from_scale), from_scale, np.nan)
        return np.where(np.isnan(self.foldback_high), from_scale, self.foldback_high)

    def with_sources(
        self,
        sensor: list[int],
        baseline_nsv_h: list[float],
        category: list[int],
        background_nsv_h: float = 100.0,
        background_sigma_nsv_h: float = 15.0,
        breach_factor: float = 5.0,
    ) -> CoreConfig:
        """Mark dose channels as sealed-source monitors with their commissioning baselines.

        Missing: below max(background + 3 sigma, 20 % of baseline) (hazwatch defaults, to be tuned per site).
        Shielding breach: above ``breach_factor`` x baseline unless a high level is given for the sensor.
        """
        baseline = self.source_baseline.copy()
        cat = self.source_category.copy()
        missing = self.source_missing_level.copy()
        breach = self.source_breach_level.copy()
        is_source = self.device_is_source.copy()
        for s, b, c in zip(sensor, baseline_nsv_h, category, strict=True):
            baseline[s] = b
            cat[s] = c
            missing[s] = max(background_nsv_h + 3.0 * background_sigma_nsv_h, 0.2 * b)
            high = self.thresholds.high[s]
            breach[s] = high if np.isfinite(high) else breach_factor * b
            is_source[self.device[s]] = True
        return replace(
            self,
            source_baseline=baseline,
            source_category=cat,
            source_missing_level=missing,
            source_breach_level=breach,
            device_is_source=is_source,
        )
