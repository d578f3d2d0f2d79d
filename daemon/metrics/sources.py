"""Small interfaces through which other components hand their state to the scrape-time collectors.

Each has a default that reports "nothing yet", so every series exists from the first scrape and a
component only has to replace its default on ``MetricSources`` when it is wired in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray


class ConditionSource(Protocol):
    """Open alarm conditions, as (condition name, sensor number) pairs."""

    def active_conditions(self) -> Iterable[tuple[str, int]]:
        """Every condition currently open (annunciated or not), with its sensor."""
        ...


class AlarmSource(Protocol):
    """Alarms not in the normal state, as (priority, ISA-18.2 state) pairs, one per alarm."""

    def alarm_states(self) -> Iterable[tuple[str, str]]:
        """One (priority, state) per alarm that is not normal."""
        ...


class IncidentSource(Protocol):
    """Open incidents (status open or all-clear, not closed)."""

    def open_incident_tiers(self) -> Iterable[str]:
        """The current tier (blue/yellow/orange/red) of each open incident."""
        ...


class QualitySource(Protocol):
    """24-hour data acquisition and valid-data ratios per sensor (``detectors.quality.QualityDetector`` fits)."""

    def ratios(self, now: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(acquisition ratio, valid ratio) per sensor number, 0-1; nan where not yet known."""
        ...


class ServiceStatusSource(Protocol):
    """Sensors a person has taken out of service (maintenance, calibration)."""

    def out_of_service_sensors(self) -> Iterable[int]:
        """Sensor numbers currently out of service."""
        ...


class NoConditions:
    """Default: no open conditions."""

    def active_conditions(self) -> Iterable[tuple[str, int]]:
        """Nothing is open."""
        return ()


class NoAlarms:
    """Default: no alarms."""

    def alarm_states(self) -> Iterable[tuple[str, str]]:
        """Nothing is active."""
        return ()


class NoIncidents:
    """Default until the incident engine is wired: no open incident."""

    def open_incident_tiers(self) -> Iterable[str]:
        """No incident is open."""
        return ()


class UnknownQuality:
    """Default until the quality detector is wired: ratios unknown (nan), never a false "0 % captured"."""

    def __init__(self, n_sensors: int) -> None:
        self._unknown = np.full(n_sensors, np.nan)

    def ratios(self, now: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Unknown for every sensor."""
        return self._unknown, self._unknown


class AllInService:
    """Default: every sensor in service."""

    def out_of_service_sensors(self) -> Iterable[int]:
        """No sensor is out of service."""
        return ()


@dataclass
class MetricSources:
    """The providers the collectors read at scrape time; replace a field to wire a component in."""

    n_sensors: int
    conditions: ConditionSource = field(default_factory=NoConditions)
    alarms: AlarmSource = field(default_factory=NoAlarms)
    incidents: IncidentSource = field(default_factory=NoIncidents)
    service_status: ServiceStatusSource = field(default_factory=AllInService)
    quality: QualitySource = field(init=False)

    def __post_init__(self) -> None:
        self.quality = UnknownQuality(self.n_sensors)
