"""The condition names the detection core reports, plus the ``level`` condition the rule engine evaluates."""

from __future__ import annotations

LEVEL = "level"

THRESHOLD = frozenset({"threshold.high", "threshold.high_high", "threshold.low"})
ANOMALY = frozenset({"anomaly.spike", "anomaly.shift", "anomaly.drift"})
GAMMA = frozenset({"gamma.rise", "gamma.rise_natural", "gamma.rise_suspicious"})
QUALITY = frozenset(
    {
        "quality.stuck",
        "quality.flatline",
        "quality.out_of_range",
        "quality.jump",
        "quality.offline",
        "quality.clock_skew",
        "quality.capture_low",
    }
)
GAS = frozenset(
    {
        "gas.level1",
        "gas.level2",
        "gas.aegl1_60min",
        "gas.aegl2_10min",
        "gas.aegl2_30min",
        "gas.aegl2_60min",
        "gas.aegl3_10min",
        "gas.aegl3_30min",
        "gas.aegl3_60min",
        "gas.stel_15min",
        "gas.twa_8h",
    }
)
SOURCE = frozenset(
    {
        "source.missing",
        "source.shielding_breach",
        "source.geofence_exit",
        "source.tamper",
        "source.battery_low",
        "source.mains_lost",
        "source.heartbeat_lost",
        "source.detector_fault",
    }
)

# Conditions that mean "the device is not reporting": every other alarm on that device depends on them.
DEVICE_OFFLINE = frozenset({"quality.offline", "source.heartbeat_lost"})

# Reported by the detection core; device-level ones arrive on the device's first sensor.
DETECTED = THRESHOLD | ANOMALY | GAMMA | QUALITY | GAS | SOURCE

KNOWN = DETECTED | {LEVEL}
