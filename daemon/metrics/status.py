"""Scrape-time metrics for alarms, incidents and data quality, read from the providers in ``MetricSources``."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from daemon.clock import Clock
from daemon.metrics.sensors import sensor_label_values
from daemon.metrics.sources import MetricSources
from daemon.metrics.text_format import Frame, Render, family_header, layout_key, series_prefix, value_lines
from plans.model import Tier
from rules.alarm import ANNUNCIATED_ACTIVE, AlarmState
from rules.model import PRIORITIES
from rules.sensor_table import SensorTable
from rules.site import DeviceType

log = logging.getLogger(__name__)

# ISA-18.2 states other than normal, and those annunciated as active.
ALARM_STATES = tuple(state.value for state in AlarmState if state is not AlarmState.NORMAL)
ANNUNCIATED = frozenset(state.value for state in ANNUNCIATED_ACTIVE)
# Warning colours of the emergency plan, lowest first; rank = position + 1.
TIERS = tuple(tier.value for tier in Tier)
NETWORKS = tuple(t.value for t in DeviceType)
QUALITY_LABELS = ["site", "zone", "device", "sensor", "kind"]  # a ratio has no unit


def network_ratio(ratio: NDArray[np.float64], weight: NDArray[np.float64]) -> float:
    """Expected-reading-weighted mean of the known per-sensor ratios; nan when none is known."""
    known = ~np.isnan(ratio)
    total = float(weight[known].sum())
    if not total:
        return float("nan")
    return float((ratio[known] * weight[known]).sum() / total)


RatioPart = tuple[str, str, NDArray[np.float64], Metric]  # family, what it counts, per-sensor ratios, per network


class RatioLayout:
    """The per-sensor ratio series prefixes; a state is (alarm and incident families, ratio parts)."""

    def __init__(self, key: int, prefixes: dict[str, list[str]]) -> None:
        self.key = key
        self.prefixes = prefixes

    def render(self, state: tuple[list[Metric], list[RatioPart]]) -> bytes:
        """The small families as prometheus_client writes them, then each ratio family and its per-network one."""
        small, parts = state
        chunks = [generate_latest(_Families(small))]
        for name, what, ratios, network in parts:
            family = f"hazwatch_sensor_{name}_ratio"
            help_text = f"{what} per sensor over the last 24 h (nan: not known yet)."
            chunks += [family_header(family, help_text).encode(), value_lines(self.prefixes[name], ratios)]
            chunks.append(generate_latest(_Families([network])))
        return b"".join(chunks)


class StatusCollector(Collector):
    """Alarms by priority and state, incidents by tier, data capture and valid ratios."""

    def __init__(self, table: SensorTable, clock: Clock, sources: MetricSources) -> None:
        self._table = table
        self._clock = clock
        self._sources = sources
        self._site = table.site.site
        self._labels = [sensor_label_values(table, i) for i in range(len(table))]
        device_type = np.array([d.type.value for d in table.devices])[table.device_of]
        self._network_of = {network: device_type == network for network in NETWORKS}
        self._readings_per_s = 1.0 / table.report_interval_s  # what each sensor weighs in its network's ratio
        self._unknown_logged: set[tuple[str, str]] = set()
        self._layout = RatioLayout(
            layout_key(),
            {
                name: [
                    series_prefix(f"hazwatch_sensor_{name}_ratio", QUALITY_LABELS, labels[:5])
                    for labels in self._labels
                ]
                for name in ("data_capture", "valid_data")
            },
        )

    def collect(self) -> Iterable[Metric]:
        """Ask every provider for its state now."""
        yield from self._alarms()
        yield from self._incidents()
        yield from self._quality()

    def frame(self) -> Frame:
        """Ask the providers now (on the loop); the per-sensor ratio lines are rendered from copies, off the loop."""
        small = [*self._alarms(), *self._incidents()]
        acquisition, valid = self._sources.quality.ratios(self._clock.now())
        parts = [
            (name, what, ratios.copy(), self._per_network(name, what, ratios))
            for name, what, ratios in _ratios(acquisition, valid)
        ]
        return Frame(self._layout.key, self._layout, (small, parts))

    def snapshot(self) -> Render:
        """The render of a frame taken now."""
        return self.frame().render

    def _alarms(self) -> Iterable[Metric]:
        counts = Counter(self._sources.alarms.alarm_states())
        family = GaugeMetricFamily(
            "hazwatch_alarms",
            "Alarms not in the normal state, by priority and ISA-18.2 state.",
            labels=["priority", "state"],
        )
        for pair in counts:
            if (pair[0] not in PRIORITIES or pair[1] not in ALARM_STATES) and pair not in self._unknown_logged:
                log.warning("alarm priority/state %r is not a known label pair; not exported", pair)
                self._unknown_logged.add(pair)
        for priority in PRIORITIES:
            for state in ALARM_STATES:
                family.add_metric([priority, state], float(counts.get((priority, state), 0)))
        yield family
        # Derived from the same counts, so the two families always agree.
        active = GaugeMetricFamily(
            "hazwatch_alarms_active",
            "Alarms annunciated as active (active or latched, acknowledged or not), by priority.",
            labels=["priority"],
        )
        for priority in PRIORITIES:
            active.add_metric([priority], float(sum(counts.get((priority, state), 0) for state in ANNUNCIATED)))
        yield active

    def _incidents(self) -> Iterable[Metric]:
        counts = Counter(self._sources.incidents.open_incident_tiers())
        by_tier = GaugeMetricFamily("hazwatch_incidents_open", "Open incidents by current tier.", labels=["tier"])
        highest = 0
        for rank, tier in enumerate(TIERS, start=1):
            by_tier.add_metric([tier], float(counts.get(tier, 0)))
            if counts.get(tier):
                highest = rank
        yield by_tier
        yield GaugeMetricFamily(
            "hazwatch_incident_highest_tier",
            "Highest tier among open incidents: 0 none, 1 blue, 2 yellow, 3 orange, 4 red.",
            value=float(highest),
        )

    def _quality(self) -> Iterable[Metric]:
        acquisition, valid = self._sources.quality.ratios(self._clock.now())
        for name, what, ratios in _ratios(acquisition, valid):
            per_sensor = GaugeMetricFamily(
                f"hazwatch_sensor_{name}_ratio",
                f"{what} per sensor over the last 24 h (nan: not known yet).",
                labels=QUALITY_LABELS,
            )
            for i, ratio in enumerate(ratios.tolist()):
                per_sensor.add_metric(self._labels[i][:5], ratio)
            yield per_sensor
            yield self._per_network(name, what, ratios)

    def _per_network(self, name: str, what: str, ratios: NDArray[np.float64]) -> Metric:
        per_network = GaugeMetricFamily(
            f"hazwatch_network_{name}_ratio",
            f"{what} per network (device type) over the last 24 h (nan: not known yet).",
            labels=["site", "network"],
        )
        for network, members in self._network_of.items():
            if members.any():
                per_network.add_metric(
                    [self._site, network], network_ratio(ratios[members], self._readings_per_s[members])
                )
        return per_network


def _ratios(
    acquisition: NDArray[np.float64], valid: NDArray[np.float64]
) -> tuple[tuple[str, str, NDArray[np.float64]], ...]:
    return (
        ("data_capture", "Readings received / readings expected", acquisition),
        ("valid_data", "Valid readings / readings expected", valid),
    )


class _Families:
    """Already collected families, in the shape ``generate_latest`` reads."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        """The families as given."""
        return self._families
