"""Per-sensor metrics produced at scrape time from the pipeline's arrays (nothing on the hot path)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from daemon.clock import Clock
from daemon.metrics.sensor_state import (
    SENSOR_STATES,
    SOURCE_STATUSES,
    SourceDevices,
    fold_conditions,
    sensor_states,
    source_status_table,
)
from daemon.metrics.sources import MetricSources
from daemon.metrics.text_format import (
    Frame,
    Render,
    family_header,
    format_value,
    layout_key,
    one_hot_blocks,
    one_hot_text,
    series_prefix,
    value_lines,
)
from detectors.config import CoreConfig
from detectors.kinds import CANONICAL_UNIT, Kind
from detectors.substances import SUBSTANCES
from rules.model import Rule
from rules.selector import selected_sensors
from rules.sensor_table import SensorTable
from rules.site import DeviceType

SENSOR_LABELS = ["site", "zone", "device", "sensor", "kind", "unit"]
INFO_LABELS = [
    *("site", "zone", "zone_type", "device", "device_type", "sensor", "kind", "substance", "unit", "lat", "lon")
]
SOURCE_LABELS = ["site", "zone", "device", "nuclide", "category"]
VALUE_HELP = "Latest reading per sensor, in the canonical unit of its kind."
SEEN_HELP = "Time of the latest reading per sensor."
INFO_HELP = "Sensor metadata from the site file; always 1."
LEVEL_HELP = "Alarm and reference levels per sensor, in the canonical unit of its kind."
STATE_HELP = "Sensor state: one series per state, 1 for the state the sensor is in, else 0."
SOURCE_HELP = "Sealed-source monitor status: one series per status, 1 where it holds (several can)."


class LatestReadings(Protocol):
    """The pipeline's per-sensor arrays (allocated once, updated in place)."""

    latest_value: NDArray[np.float64]
    latest_time: NDArray[np.float64]
    latest_flags: NDArray[np.uint16]


def sensor_label_values(table: SensorTable, sensor: int) -> list[str]:
    """Values for ``SENSOR_LABELS`` of one sensor."""
    spec = table.sensors[sensor]
    device = table.devices[int(table.device_of[sensor])].id
    return [table.site.site, table.zone[sensor], device, spec.id, spec.kind.value, CANONICAL_UNIT[spec.kind]]


LevelRule = tuple[float, str, NDArray[np.bool_]]  # (level it is above, rule id, sensors it selects)


def level_rules(rules: Sequence[Rule], table: SensorTable) -> list[LevelRule]:
    """The ``level ... above`` rules with the sensors each selects (computed once, not per sensor)."""
    return [
        (float(rule.condition.params.above), rule.id, selected_sensors(rule.selector, table))
        for rule in rules
        if rule.condition.params is not None and rule.condition.params.above is not None
    ]


def sensor_levels(
    table: SensorTable, sensor: int, rules: Sequence[LevelRule] = (), core: CoreConfig | None = None
) -> list[tuple[str, float]]:
    """Every level worth drawing for one sensor, as the service will judge it.

    ``high``/``high_high``/``low`` are the sensor's first and second alarm levels wherever they come from: the
    site file, else the detection core (gas detector levels, sealed-source missing/breach), else the ``level``
    rules that select it (lowest first; further rule levels are named after their rule). Reference levels
    (AEGL, ERPG, IDLH, source baseline, full scale) follow.
    """
    spec = table.sensors[sensor]
    first: dict[str, float | None] = {
        "low": spec.levels.low,
        "high": spec.levels.high,
        "high_high": spec.levels.high_high,
    }
    extra: list[tuple[str, float | None]] = []
    if core is not None:
        if spec.kind is Kind.GAS and first["high"] is None and np.isfinite(core.gas_level1[sensor]):
            first["high"], first["high_high"] = float(core.gas_level1[sensor]), float(core.gas_level2[sensor])
        if spec.kind is Kind.SOURCE_DOSE_RATE and np.isfinite(core.source_missing_level[sensor]):
            first["low"] = first["low"] if first["low"] is not None else float(core.source_missing_level[sensor])
            first["high"] = first["high"] if first["high"] is not None else float(core.source_breach_level[sensor])
    above = sorted((value, rule_id) for value, rule_id, selects in rules if selects[sensor])
    for name in ("high", "high_high"):
        if first[name] is None and above:
            first[name] = above.pop(0)[0]
    extra += [(rule_id, value) for value, rule_id in above]
    levels: list[tuple[str, float | None]] = [*first.items(), *extra]
    if spec.kind is Kind.GAS and spec.substance in SUBSTANCES:
        gas = SUBSTANCES[spec.substance]
        levels += [
            ("aegl1_60min", gas.aegl1_60min),
            ("aegl2_10min", gas.aegl2[0]),
            ("aegl2_30min", gas.aegl2[1]),
            ("aegl2_60min", gas.aegl2[2]),
            ("aegl3_10min", gas.aegl3[0]),
            ("aegl3_30min", gas.aegl3[1]),
            ("aegl3_60min", gas.aegl3[2]),
            ("erpg1", gas.erpg[0]),
            ("erpg2", gas.erpg[1]),
            ("erpg3", gas.erpg[2]),
            ("idlh", gas.idlh),
        ]
    device = table.devices[int(table.device_of[sensor])]
    if spec.kind is Kind.SOURCE_DOSE_RATE and device.source is not None:
        levels.append(("baseline", device.source.baseline_dose_rate_nsv_h))
    if spec.full_scale is not None:
        levels.append(("full_scale", spec.full_scale))
    return [(name, float(value)) for name, value in levels if value is not None]


class ValueLayout:
    """The series prefixes of the value and last-reading families; a state is (sensors, values, times)."""

    def __init__(self, key: int, value_prefix: list[str], seen_prefix: list[str]) -> None:
        self.key = key
        self.value_prefix = value_prefix
        self.seen_prefix = seen_prefix

    def render(self, state: tuple[NDArray[np.intp], NDArray[np.float64], NDArray[np.float64]]) -> bytes:
        """The two families for the sensors that have reported."""
        reported, values, times = state
        sensors = reported.tolist()
        value_prefix, seen_prefix = self.value_prefix, self.seen_prefix
        return b"".join(
            [
                family_header("hazwatch_sensor_value", VALUE_HELP).encode(),
                value_lines([value_prefix[i] for i in sensors], values),
                family_header("hazwatch_sensor_last_reading_timestamp_seconds", SEEN_HELP).encode(),
                value_lines([seen_prefix[i] for i in sensors], times),
            ]
        )


class StaticLayout:
    """Text that is the same at every scrape (the site's info and levels); a state is ``None``."""

    def __init__(self, key: int, text: bytes) -> None:
        self.key = key
        self.text = text

    def render(self, state: None) -> bytes:
        """The text."""
        return self.text


class StateLayout:
    """The one-hot state lines per sensor and the sealed-source status lines; a state is (codes, statuses).

    States change rarely (a sensor going stale, an alarm): the last text is reused while the whole state is the
    same, which is most scrapes. The cache lives with the layout, wherever it renders (this process's threads or
    the render process), and is not pickled.
    """

    def __init__(self, key: int, blocks: tuple[list[str], list[list[int]]], source_prefix: list[list[str]]) -> None:
        self.key = key
        self.blocks = blocks
        self.source_prefix = source_prefix
        self._rendered: tuple[NDArray[np.int8], NDArray[np.bool_], bytes] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"key": self.key, "blocks": self.blocks, "source_prefix": self.source_prefix}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._rendered = None

    def render(self, state: tuple[NDArray[np.int8], NDArray[np.bool_]]) -> bytes:
        """Both families; the last text again when no state changed."""
        codes, statuses = state
        cached = self._rendered  # one tuple, replaced whole (atomic for threads)
        if cached is not None and np.array_equal(cached[0], codes) and np.array_equal(cached[1], statuses):
            return cached[2]
        blocks, offsets = self.blocks
        lines = [family_header("hazwatch_sensor_state", STATE_HELP), one_hot_text(blocks, offsets, codes.tolist())]
        lines.append(family_header("hazwatch_source_status", SOURCE_HELP))
        for prefixes, held in zip(self.source_prefix, statuses.tolist(), strict=True):
            lines += [f"{p}{'1.0' if on else '0.0'}\n" for p, on in zip(prefixes, held, strict=True)]
        body = "".join(lines).encode()
        self._rendered = (codes, statuses, body)
        return body


class SensorCollector(Collector):
    """Latest value and time per sensor, read from the pipeline's arrays at scrape time."""

    def __init__(self, table: SensorTable, latest_value: np.ndarray, latest_time: np.ndarray) -> None:
        self._table = table
        self._value = latest_value
        self._time = latest_time
        self._labels = [sensor_label_values(table, i) for i in range(len(table))]
        value_prefix = [series_prefix("hazwatch_sensor_value", SENSOR_LABELS, v) for v in self._labels]
        seen_prefix = [
            series_prefix("hazwatch_sensor_last_reading_timestamp_seconds", SENSOR_LABELS, v) for v in self._labels
        ]
        self._layout = ValueLayout(layout_key(), value_prefix, seen_prefix)

    def frame(self) -> Frame:
        """Copy the reported sensors' values and times; their two families are rendered from the copy."""
        reported = np.flatnonzero(~np.isnan(self._time))
        return Frame(self._layout.key, self._layout, (reported, self._value[reported], self._time[reported]))

    def snapshot(self) -> Render:
        """The render of a frame taken now."""
        return self.frame().render

    def collect(self) -> Iterable[Metric]:
        """One series per sensor that has reported."""
        value = GaugeMetricFamily("hazwatch_sensor_value", VALUE_HELP, labels=SENSOR_LABELS)
        seen = GaugeMetricFamily("hazwatch_sensor_last_reading_timestamp_seconds", SEEN_HELP, labels=SENSOR_LABELS)
        reported = np.flatnonzero(~np.isnan(self._time)).tolist()
        values, times = self._value[reported].tolist(), self._time[reported].tolist()
        for i, v, t in zip(reported, values, times, strict=True):
            value.add_metric(self._labels[i], v)
            seen.add_metric(self._labels[i], t)
        yield value
        yield seen


class SiteCollector(Collector):
    """What the site file fixes: sensor info (position, zone, substance) and every sensor's levels."""

    def __init__(self, table: SensorTable, rules: Sequence[Rule] = (), core: CoreConfig | None = None) -> None:
        self._table = table
        site = table.site.site
        zone_type = {zone.id: zone.type.value for zone in table.site.zones}
        self._info: list[list[str]] = []
        for i, spec in enumerate(table.sensors):
            device = table.devices[int(table.device_of[i])]
            self._info.append(
                [
                    site,
                    device.zone,
                    zone_type[device.zone],
                    device.id,
                    device.type.value,
                    spec.id,
                    spec.kind.value,
                    spec.substance or "",
                    CANONICAL_UNIT[spec.kind],
                    f"{device.position.lat:.6f}",
                    f"{device.position.lon:.6f}",
                ]
            )
        self.update_levels(rules, core)

    def update_levels(self, rules: Sequence[Rule], core: CoreConfig | None) -> None:
        """Recompute the level series (at start and after a rules reload)."""
        table = self._table
        by_level = level_rules(rules, table)
        self._levels = [
            ([*sensor_label_values(table, i), name], value)
            for i in range(len(table))
            for name, value in sensor_levels(table, i, by_level, core)
        ]
        # Static between reloads: rendered once here, so a scrape only copies a reference to the text.
        lines = [family_header("hazwatch_sensor_info", INFO_HELP)]
        lines += [series_prefix("hazwatch_sensor_info", INFO_LABELS, labels) + "1.0\n" for labels in self._info]
        lines.append(family_header("hazwatch_sensor_level", LEVEL_HELP))
        level_labels = [*SENSOR_LABELS, "level"]
        lines += [
            series_prefix("hazwatch_sensor_level", level_labels, labels) + format_value(value) + "\n"
            for labels, value in self._levels
        ]
        self._layout = StaticLayout(layout_key(), "".join(lines).encode())

    def frame(self) -> Frame:
        """The text rendered at the last (re)load (a new layout after each)."""
        return Frame(self._layout.key, self._layout, None)

    def snapshot(self) -> Render:
        """The text rendered at the last (re)load."""
        return self.frame().render

    def collect(self) -> Iterable[Metric]:
        """Static series, the same at every scrape."""
        info = GaugeMetricFamily("hazwatch_sensor_info", INFO_HELP, labels=INFO_LABELS)
        for labels in self._info:
            info.add_metric(labels, 1.0)
        level = GaugeMetricFamily("hazwatch_sensor_level", LEVEL_HELP, labels=[*SENSOR_LABELS, "level"])
        for labels, value in self._levels:
            level.add_metric(labels, value)
        yield info
        yield level


class SensorStateCollector(Collector):
    """Sensor state (one series per state, 1 for the current one) and sealed-source statuses."""

    def __init__(
        self,
        table: SensorTable,
        clock: Clock,
        latest: LatestReadings,
        sources: MetricSources,
        device_online: Mapping[int, bool],
    ) -> None:
        self._table = table
        self._clock = clock
        self._latest = latest
        self._sources = sources
        self._device_online = device_online
        self._labels = [sensor_label_values(table, i) for i in range(len(table))]
        self._source_devices = [
            (d, [table.site.site, device.zone, device.id, device.source.nuclide, str(device.source.category)])
            for d, device in enumerate(table.devices)
            if device.type is DeviceType.SOURCE_MONITOR and device.source is not None
        ]
        source_prefix = [
            [series_prefix("hazwatch_source_status", [*SOURCE_LABELS, "status"], [*labels, n]) for n in SOURCE_STATUSES]
            for _, labels in self._source_devices
        ]
        state_blocks = one_hot_blocks(
            [
                [series_prefix("hazwatch_sensor_state", [*SENSOR_LABELS, "state"], [*labels, n]) for n in SENSOR_STATES]
                for labels in self._labels
            ]
        )
        self._layout = StateLayout(layout_key(), state_blocks, source_prefix)
        self._source_index = SourceDevices.build(table, [d for d, _ in self._source_devices])

    def frame(self) -> Frame:
        """Compute states and statuses now (vectorised, on the loop); their lines are rendered from the result."""
        state, statuses = self._states_now()
        return Frame(self._layout.key, self._layout, (state, statuses))

    def snapshot(self) -> Render:
        """The render of a frame taken now."""
        return self.frame().render

    def _states_now(self) -> tuple[NDArray[np.int8], NDArray[np.bool_]]:
        table, latest, sources = self._table, self._latest, self._sources
        n = len(table)
        masks = fold_conditions(n, sources.conditions.active_conditions())
        device_offline = np.zeros(len(table.devices), np.bool_)
        for device, online in self._device_online.items():
            device_offline[device] = not online
        out_of_service = np.zeros(n, np.bool_)
        out_of_service[[s for s in sources.service_status.out_of_service_sensors() if 0 <= s < n]] = True
        state = sensor_states(
            self._clock.now(),
            latest.latest_time,
            latest.latest_flags,
            table.report_interval_s,
            device_offline[table.device_of],
            masks,
            out_of_service,
        )
        statuses = source_status_table(table, self._source_index, state, latest.latest_value, masks)
        return state, statuses

    def collect(self) -> Iterable[Metric]:
        """Compute every sensor's state now."""
        state, statuses = self._states_now()
        family = GaugeMetricFamily("hazwatch_sensor_state", STATE_HELP, labels=[*SENSOR_LABELS, "state"])
        codes = state.tolist()
        for i in range(len(codes)):
            for code, name in enumerate(SENSOR_STATES):
                family.add_metric([*self._labels[i], name], 1.0 if codes[i] == code else 0.0)
        yield family
        source = GaugeMetricFamily("hazwatch_source_status", SOURCE_HELP, labels=[*SOURCE_LABELS, "status"])
        for (_, labels), held in zip(self._source_devices, statuses.tolist(), strict=True):
            for name, on in zip(SOURCE_STATUSES, held, strict=True):
                source.add_metric([*labels, name], 1.0 if on else 0.0)
        yield source
