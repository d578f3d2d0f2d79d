"""The site file model: devices, their sensors, zones. Validated with pydantic, unknown keys rejected."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from detectors.kinds import Kind
from detectors.substances import SUBSTANCES
from detectors.units import UnknownUnitError, accepted_units, conversion


class StrictModel(BaseModel):
    """Base for every config model: unknown keys are errors, models are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Position(StrictModel):
    """A WGS-84 position."""

    lat: Annotated[float, Field(ge=-90, le=90, description="Latitude in degrees.")]
    lon: Annotated[float, Field(ge=-180, le=180, description="Longitude in degrees.")]


class Levels(StrictModel):
    """Alarm levels in the kind's canonical unit. Any level may be left out."""

    high: float | None = Field(None, description="High (warning) level.")
    high_high: float | None = Field(None, description="High-high (alarm) level; must be above high.")
    low: float | None = Field(None, description="Low level (e.g. battery voltage, source-container dose).")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.high is not None and self.high_high is not None and self.high_high <= self.high:
            raise ValueError(f"high_high ({self.high_high}) must be above high ({self.high})")
        return self


class SensorSpec(StrictModel):
    """One measured channel of a device."""

    id: str = Field(description="Unique sensor id across the site.", pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str = Field(description="SenML record name (`n`) the device uses for this channel.")
    kind: Kind = Field(description="What is measured; fixes the canonical unit.")
    unit: str = Field(description="Unit the device normally sends (readings in other convertible units are accepted).")
    substance: str | None = Field(None, description="Gas formula for kind=gas (Cl2, HF, HCl, NH3, H2S, COCl2, VOC).")
    molar_mass_g_mol: float | None = Field(None, gt=0, description="Molar mass for mg/m3 conversion (VOC etc.).")
    levels: Levels = Field(default_factory=Levels, description="Per-sensor alarm levels (canonical unit).")
    deadband: float = Field(0.0, ge=0, description="A high alarm clears only below level - deadband.")
    on_delay_s: float = Field(0.0, ge=0, description="Seconds a level must be exceeded before the alarm is raised.")
    off_delay_s: float = Field(0.0, ge=0, description="Seconds a value must stay clear before the alarm clears.")
    full_scale: float | None = Field(None, gt=0, description="Detector full scale in the canonical unit.")

    @model_validator(mode="after")
    def _unit_and_substance(self) -> Self:
        if self.kind is Kind.GAS:
            if self.substance is None:
                raise ValueError("a gas sensor needs `substance`")
            if self.substance not in SUBSTANCES and self.molar_mass_g_mol is None and self.unit != "ppm":
                raise ValueError(f"substance {self.substance!r} is not in the reference table; give molar_mass_g_mol")
        if self.unit not in accepted_units(self.kind):
            raise ValueError(f"unit {self.unit!r} is not accepted for {self.kind.value}")
        try:
            conversion(self.kind, self.unit, self.molar_mass())
        except UnknownUnitError as exc:
            raise ValueError(str(exc)) from exc
        return self

    def molar_mass(self) -> float | None:
        """Molar mass for unit conversion, from the spec or the reference table."""
        if self.molar_mass_g_mol is not None:
            return self.molar_mass_g_mol
        if self.substance in SUBSTANCES:
            return SUBSTANCES[self.substance].molar_mass_g_mol
        return None


class DeviceType(StrEnum):
    """Families of field device."""

    GAS_DETECTOR = "gas_detector"
    GAMMA_STATION = "gamma_station"
    WEATHER_STATION = "weather_station"
    SOURCE_MONITOR = "source_monitor"


class Geofence(StrictModel):
    """Where a sealed source may be: a circle, or a polygon of positions."""

    center: Position | None = Field(None, description="Circle centre.")
    radius_m: float | None = Field(None, gt=0, description="Circle radius in metres.")
    polygon: list[Position] | None = Field(None, min_length=3, description="Polygon vertices, in order.")

    @model_validator(mode="after")
    def _one_shape(self) -> Self:
        circle = self.center is not None and self.radius_m is not None
        if circle == (self.polygon is not None):
            raise ValueError("give either center + radius_m or polygon")
        return self


class SealedSource(StrictModel):
    """The source a sealed-source monitor watches."""

    nuclide: str = Field(description="e.g. Cs-137, Co-60, Ir-192.")
    category: int = Field(ge=1, le=5, description="IAEA/China source category I-V as 1-5.")
    mobile: bool = Field(False, description="Mobile (radiography camera) rather than a fixed gauge.")
    baseline_dose_rate_nsv_h: float = Field(gt=0, description="Container dose rate measured at commissioning.")
    geofence: Geofence | None = Field(None, description="Allowed area; none for fixed gauges without GNSS.")


class DeviceSpec(StrictModel):
    """A field device: publishes on `<prefix>/<site>/<device id>`."""

    id: str = Field(description="Device id, the last MQTT topic level.", pattern=r"^[A-Za-z0-9_.:-]+$")
    type: DeviceType
    position: Position
    zone: str = Field(description="Zone id the device belongs to.")
    report_interval_s: float = Field(60.0, gt=0, description="Nominal seconds between reports.")
    source: SealedSource | None = Field(None, description="For source monitors: the watched source.")
    sensors: list[SensorSpec] = Field(min_length=1)


class ZoneType(StrEnum):
    """Kinds of zone a plan can refer to."""

    BOUNDARY = "boundary"
    PLANT = "plant"
    RESIDENTIAL = "residential"
    NUCLEAR = "nuclear"
    INDUSTRIAL = "industrial"


class ZoneSpec(StrictModel):
    """A named area of the site."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str
    type: ZoneType


class CandidateSource(StrictModel):
    """A place a toxic release may come from (plant unit, tank, pipe rack), for source-term estimation."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$", description="Unique candidate id.")
    name: str = Field(description="Human-readable name, e.g. 'Chlor-alkali liquefaction unit'.")
    position: Position = Field(description="Where the release would start.")
    substances: list[str] = Field(min_length=1, description="Gas formulas held there (Cl2, HF, NH3, ...).")
    release_height_m: float = Field(2.0, ge=0, description="Height of a release above ground, metres.")


class ReceptorType(StrEnum):
    """Kinds of place where people may be in the way of a toxic cloud."""

    RESIDENTIAL = "residential"
    SCHOOL = "school"
    HOSPITAL = "hospital"
    NURSING_HOME = "nursing_home"
    WORKPLACE = "workplace"


class Receptor(StrictModel):
    """People in the way: an area with its population, for threat-zone reports and protective-action advice."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$", description="Unique receptor id.")
    name: str = Field(description="Human-readable name.")
    type: ReceptorType = Field(description="What kind of place; sets defaults for sheltering and evacuation.")
    polygon: list[Position] = Field(min_length=3, description="Outline, vertices in order.")
    population: int = Field(ge=0, description="People normally present (assumed spread evenly over the outline).")
    air_changes_per_hour: float | None = Field(
        None, gt=0, description="Building air exchange rate with ventilation off; default by type."
    )
    evacuation_time_min: float | None = Field(None, gt=0, description="Minutes to get everyone out; default by type.")


class Site(StrictModel):
    """A monitored site: its zones and devices."""

    site: str = Field(description="Site id, the second MQTT topic level.", pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(description="Human-readable site name.")
    center: Position
    zones: list[ZoneSpec] = Field(min_length=1)
    devices: list[DeviceSpec] = Field(min_length=1)
    sources: list[CandidateSource] = Field(
        default_factory=list, description="Candidate release points for source-term estimation."
    )
    receptors: list[Receptor] = Field(default_factory=list, description="Populated areas for threat-zone reports.")

    @model_validator(mode="after")
    def _references(self) -> Self:
        zone_ids = [z.id for z in self.zones]
        if len(set(zone_ids)) != len(zone_ids):
            raise ValueError("zone ids must be unique")
        device_ids: set[str] = set()
        sensor_ids: set[str] = set()
        for device in self.devices:
            if device.id in device_ids:
                raise ValueError(f"duplicate device id {device.id!r}")
            device_ids.add(device.id)
            if device.zone not in zone_ids:
                raise ValueError(f"device {device.id!r} refers to unknown zone {device.zone!r}")
            names: set[str] = set()
            for sensor in device.sensors:
                if sensor.id in sensor_ids:
                    raise ValueError(f"duplicate sensor id {sensor.id!r}")
                if sensor.name in names:
                    raise ValueError(f"device {device.id!r} has two sensors named {sensor.name!r}")
                sensor_ids.add(sensor.id)
                names.add(sensor.name)
        for what, ids in (("source", [c.id for c in self.sources]), ("receptor", [r.id for r in self.receptors])):
            if len(set(ids)) != len(ids):
                raise ValueError(f"{what} ids must be unique")
        return self
