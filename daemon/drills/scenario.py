"""The scenario file (YAML): site, time span, weather, events, faults. Validated by pydantic, unknown keys rejected."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from daemon.config import DEFAULT_SITE
from daemon.errors import ConfigError
from detectors.substances import SUBSTANCES
from rules.strict import FrozenModel
from rules.yaml_source import ConfigFileError, load_yaml, parse_model

SCENARIO_LIBRARY = Path(__file__).parent / "scenarios"


class Offset(FrozenModel):
    """A place as metres north/east of the site centre."""

    north_m: float = Field(description="Metres north of the site centre (negative: south).")
    east_m: float = Field(description="Metres east of the site centre (negative: west).")


class WeatherPeriod(FrozenModel):
    """Weather from ``at_s`` (seconds after the scenario start) until the next period."""

    at_s: float = Field(0.0, ge=0, description="Start of this period, seconds after the scenario start.")
    wind_speed_m_s: float = Field(description="Mean wind speed at 10 m.", ge=0, le=60)
    wind_from_deg: float = Field(
        description="Direction the wind comes FROM, degrees clockwise from north.", ge=0, lt=360
    )
    stability: Literal["A", "B", "C", "D", "E", "F"] = Field(description="Pasquill-Gifford stability class.")
    temperature_c: float = Field(15.0, description="Mean air temperature.")
    meander_deg: float = Field(8.0, ge=0, le=90, description="Amplitude of slow wind-direction meander.")


class RainPeriod(FrozenModel):
    """Rain over the site (or around ``center`` within ``radius_m``)."""

    start_s: float = Field(ge=0, description="Seconds after the scenario start.")
    duration_s: float = Field(gt=0, description="How long it rains.")
    rate_mm_h: float = Field(gt=0, le=300, description="Rain rate.")
    center: Offset | None = Field(None, description="Centre of the rain cell; whole site when unset.")
    radius_m: float | None = Field(None, gt=0, description="Radius of the rain cell.")


class EventBase(FrozenModel):
    """Common fields of every event."""

    id: str = Field(description="Event id, used in the ground truth and the drill report.")
    start_s: float = Field(ge=0, description="Seconds after the scenario start.")


class ToxicRelease(EventBase):
    """A continuous gas release, propagated to every gas sensor of that gas by the Gaussian plume."""

    type: Literal["toxic_release"]
    gas: str = Field(description="Gas formula as in the site file (Cl2, HF, ...).")
    at: Offset = Field(description="Release point.")
    rate_g_s: float = Field(gt=0, description="Release rate, g/s.")
    duration_s: float = Field(gt=0, description="Release duration.")
    height_m: float = Field(2.0, ge=0, description="Release height.")

    @model_validator(mode="after")
    def _known_gas(self) -> Self:
        if self.gas not in SUBSTANCES:
            raise ValueError(f"gas {self.gas!r} is not in the substance table ({', '.join(sorted(SUBSTANCES))})")
        return self


class SourceRemoved(EventBase):
    """The sealed source leaves its container: the container dose rate falls to background."""

    type: Literal["source_removed"]
    device: str = Field(description="Source monitor device id.")


class SourceMoved(EventBase):
    """The monitored container is moved in a straight line (GNSS track), e.g. out of its geofence."""

    type: Literal["source_moved"]
    device: str = Field(description="Source monitor device id (needs lat/lon channels).")
    bearing_deg: float = Field(ge=0, lt=360, description="Direction of travel, degrees clockwise from north.")
    speed_m_s: float = Field(gt=0, description="Travel speed.")
    distance_m: float = Field(gt=0, description="Distance travelled, then it stops.")


class Tamper(EventBase):
    """The monitor's tamper/door switch opens."""

    type: Literal["tamper"]
    device: str = Field(description="Source monitor device id.")
    duration_s: float | None = Field(None, gt=0, description="Until it closes again; open for good when unset.")


class MonitorSilent(EventBase):
    """The monitor stops publishing; the broker publishes its last will ``offline`` shortly after."""

    type: Literal["monitor_silent"]
    device: str = Field(description="Device id.")
    last_will_after_s: float = Field(45.0, ge=0, description="Delay before the retained `offline` status appears.")


class GammaRise(EventBase):
    """A real dose-rate rise at one station (a lost source nearby)."""

    type: Literal["gamma_rise"]
    device: str = Field(description="Gamma station device id.")
    excess_nsv_h: float = Field(gt=0, description="Added dose rate once the rise is complete.")
    ramp_s: float = Field(60.0, ge=0, description="Time to reach the full excess.")
    duration_s: float | None = Field(None, gt=0, description="How long the source stays; until the end when unset.")


class SensorFault(EventBase):
    """A sensor misbehaving: none of these is a real hazard."""

    type: Literal["fault"]
    sensor: str = Field(description="Sensor id (for `offline` and `malformed`, the sensor's device is affected).")
    fault: Literal["stuck", "drift", "flatline", "offline", "malformed"]
    duration_s: float = Field(gt=0, description="How long the fault lasts.")
    drift_per_h: float = Field(0.0, description="For `drift`: added per hour, canonical unit.")
    level: float = Field(0.0, description="For `flatline`: the pinned value (0 or full scale).")
    device_reports_fault: bool = Field(False, description="The device flags its own readings as faulty.")
    every_s: float = Field(30.0, gt=0, description="For `malformed`: one bad payload this often.")


class BrokerOutage(EventBase):
    """The MQTT broker is down: nothing arrives; the devices' queued messages arrive together when it is back."""

    type: Literal["broker_outage"]
    duration_s: float = Field(gt=0, le=3600, description="How long the broker is down.")


Event = Annotated[
    ToxicRelease | SourceRemoved | SourceMoved | Tamper | MonitorSilent | GammaRise | SensorFault | BrokerOutage,
    Field(discriminator="type"),
]


class Scenario(FrozenModel):
    """A drill scenario: what the simulator generates and what the drill report scores against."""

    name: str = Field(description="Scenario id.")
    description: str = Field("", description="What happens, for the drill planner.")
    site_file: Path = Field(DEFAULT_SITE, description="Site file, relative to the scenario file.")
    seed: int = Field(1, description="Random seed: the same seed gives the same recording.")
    start: datetime = Field(description="Scenario start (ISO 8601 with time zone).")
    duration_s: float = Field(gt=0, le=31 * 86400, description="Length of the scenario.")
    report_interval_s: int | None = Field(None, ge=1, description="Override every device's report interval.")
    topic_prefix: str = Field("hazwatch", description="MQTT topic prefix.")
    weather: list[WeatherPeriod] = Field(min_length=1, description="Weather periods, in time order.")
    rain: list[RainPeriod] = Field(default_factory=list, description="Rain periods.")
    events: list[Event] = Field(default_factory=list, description="Releases, source events, faults.")
    expect: dict[str, object] = Field(
        default_factory=dict,
        description="The outcome the plan requires, checked point by point by the drill verdict "
        "(daemon/drills/verdict.py: tier, max_tier, min_tier, first_detection_within_s, detect_within_s, "
        "max_hazard_priority, only_quality_alarms, no_false_alarms, alarms, alarm_sensors, page_within_s, "
        "acknowledged_in_time, reports_on_time).",
    )

    @model_validator(mode="after")
    def _checks(self) -> Self:
        if self.start.tzinfo is None:
            raise ValueError("start needs a time zone, e.g. 2024-06-03T09:00:00+08:00")
        times = [w.at_s for w in self.weather]
        if times != sorted(times) or times[0] != 0.0:
            raise ValueError("weather periods must be in time order and the first must be at_s: 0")
        ids = [e.id for e in self.events]
        if len(set(ids)) != len(ids):
            raise ValueError("event ids must be unique")
        return self

    @property
    def start_unix(self) -> float:
        """Scenario start as unix seconds."""
        return self.start.timestamp()


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario; the site path is resolved relative to the scenario file."""
    try:
        document = load_yaml(path)
        scenario = parse_model(document, Scenario)
    except ConfigFileError as exc:
        raise ConfigError.from_issues(exc.issues) from exc
    data = document.data
    if isinstance(data, dict) and "site_file" in data and not scenario.site_file.is_absolute():
        scenario = scenario.model_copy(update={"site_file": (path.parent / scenario.site_file).resolve()})
    return scenario
