"""The site file model: devices, their sensors, zones. Validated with pydantic, unknown keys rejected."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, model_validator

from detectors.kinds import Kind
from detectors.substances import SUBSTANCES
from detectors.units import UnknownUnitError, accepted_units, conversion
from rules.site_protocols import Hj212Link, ModbusLink
from rules.strict import FrozenModel


class Position(FrozenModel):
    """A WGS-84 position."""

    lat: Annotated[float, Field(ge=-90, le=90, description="Latitude in degrees.")]
    lon: Annotated[float, Field(ge=-180, le=180, description="Longitude in degrees.")]


class Levels(FrozenModel):
    """Alarm levels in the kind's canonical unit. Any level may be left out."""

    high: float | None = Field(None, description="High (warning) level.")
    high_high: float | None = Field(None, description="High-high (alarm) level; must be above high.")
    low: float | None = Field(None, description="Low level (e.g. battery voltage, source-container dose).")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.high is not None and self.high_high is not None and self.high_high <= self.high:
            raise ValueError(f"high_high ({self.high_high}) must be above high ({self.high})")
        return self


class SensorSpec(FrozenModel):
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


class Geofence(FrozenModel):
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


class SealedSource(FrozenModel):
    """The source a sealed-source monitor watches."""

    nuclide: str = Field(description="e.g. Cs-137, Co-60, Ir-192.")
    category: int = Field(ge=1, le=5, description="IAEA/China source category I-V as 1-5.")
    mobile: bool = Field(False, description="Mobile (radiography camera) rather than a fixed gauge.")
    baseline_dose_rate_nsv_h: float = Field(gt=0, description="Container dose rate measured at commissioning.")
    geofence: Geofence | None = Field(None, description="Allowed area; none for fixed gauges without GNSS.")


class DeviceSpec(FrozenModel):
    """A field device: publishes on `<prefix>/<site>/<device id>`."""

    id: str = Field(description="Device id, the last MQTT topic level.", pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str | None = Field(None, description="What the duty officer calls it (console, map); the id when unset.")
    type: DeviceType
    position: Position
    zone: str = Field(description="Zone id the device belongs to.")
    report_interval_s: float = Field(60.0, gt=0, description="Nominal seconds between reports.")
    source: SealedSource | None = Field(None, description="For source monitors: the watched source.")
    sensors: list[SensorSpec] = Field(min_length=1)
    hj212: Hj212Link | None = Field(None, description="The device is a data logger sending HJ 212-2017 over TCP.")
    modbus: ModbusLink | None = Field(None, description="The device is a controller polled over Modbus TCP.")

    @model_validator(mode="after")
    def _protocol_names(self) -> Self:
        names = {sensor.name for sensor in self.sensors}
        if self.hj212 is not None:
            for code, name in self.hj212.codes.items():
                if name not in names:
                    raise ValueError(f"hj212 code {code!r} maps to {name!r}, which is not a sensor name of this device")
        if self.modbus is not None:
            for value in self.modbus.values:
                if value.sensor not in names:
                    raise ValueError(
                        f"modbus value at {value.address} feeds {value.sensor!r}: not a sensor of this device"
                    )
            for status in self.modbus.status:
                if status.sensor is not None and status.sensor not in names:
                    raise ValueError(f"modbus status at {status.address} names unknown sensor {status.sensor!r}")
        if self.hj212 is not None and self.modbus is not None:
            raise ValueError("a device speaks either hj212 or modbus, not both")
        return self


class ZoneType(StrEnum):
    """Kinds of zone a plan can refer to."""

    BOUNDARY = "boundary"
    PLANT = "plant"
    RESIDENTIAL = "residential"
    NUCLEAR = "nuclear"
    INDUSTRIAL = "industrial"


class ZoneSpec(FrozenModel):
    """A named area of the site."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str
    type: ZoneType


class CandidateSource(FrozenModel):
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


class Receptor(FrozenModel):
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


class MapLayer(StrEnum):
    """Offline map layers drawn from the site file when no tile server is reachable (populated places: receptors)."""

    PLANT = "plant"  # plant outline (polygon)
    ZONE = "zone"  # zone outline (polygon)
    ROAD = "road"  # line
    RIVER = "river"  # line


LINE_LAYERS = frozenset({MapLayer.ROAD, MapLayer.RIVER})
# Layers older site files drew populated places on; those places are ``receptors:`` now, the one definition the map
# and the release assessment both read.
MOVED_TO_RECEPTORS = frozenset({"residential", "school", "hospital"})


class MapFeature(FrozenModel):
    """One offline map feature: a plant or zone outline, a road or a river, in WGS-84."""

    id: str = Field(description="Feature id, unique in the site.", pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str = Field(description="Label shown on the map.")
    layer: MapLayer = Field(description="Layer; it fixes the shape: polygon (plant, zone) or line (road, river).")
    zone: str | None = Field(None, description="Zone the outline belongs to (plant and zone outlines).")
    points: list[Position] = Field(min_length=1, description="Vertices in order (polygons close themselves).")

    @model_validator(mode="before")
    @classmethod
    def _populated_places_are_receptors(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("layer") in MOVED_TO_RECEPTORS:
            raise ValueError(
                f"map feature {data.get('id')!r} is a {data['layer']}: populated places are `receptors:` now (id, "
                "name, type, polygon, population), the one list the map and the release assessment both read; "
                "move it there"
            )
        return data

    @model_validator(mode="after")
    def _shape(self) -> Self:
        need = 2 if self.layer in LINE_LAYERS else 3
        if len(self.points) < need:
            raise ValueError(f"a {self.layer.value} needs at least {need} positions, got {len(self.points)}")
        return self


class Site(FrozenModel):
    """A monitored site: its zones and devices."""

    site: str = Field(description="Site id, the second MQTT topic level.", pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(description="Human-readable site name.")
    center: Position
    zoom: int = Field(14, ge=1, le=19, description="Web-map zoom level (0-19) showing the whole site around center.")
    timezone: str = Field(
        "Asia/Shanghai",
        description="IANA time zone of the site: the local time HJ 212 loggers send, and the days of data review.",
    )
    zones: list[ZoneSpec] = Field(min_length=1)
    devices: list[DeviceSpec] = Field(min_length=1)
    features: list[MapFeature] = Field(
        default_factory=list, description="Offline map layers: plant and zone outlines, roads, rivers."
    )
    sources: list[CandidateSource] = Field(
        default_factory=list, description="Candidate release points for source-term estimation."
    )
    receptors: list[Receptor] = Field(
        default_factory=list,
        description="Populated places: drawn on the map, and counted in threat-zone reports and plan triggers.",
    )

    @model_validator(mode="after")
    def _references(self) -> Self:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc
        zone_ids = [z.id for z in self.zones]
        if len(set(zone_ids)) != len(zone_ids):
            raise ValueError("zone ids must be unique")
        feature_ids = [f.id for f in self.features]
        if len(set(feature_ids)) != len(feature_ids):
            raise ValueError("map feature ids must be unique")
        for feature in self.features:
            if feature.zone is not None and feature.zone not in zone_ids:
                raise ValueError(f"map feature {feature.id!r} refers to unknown zone {feature.zone!r}")
        device_ids: set[str] = set()
        sensor_ids: set[str] = set()
        mns: set[str] = set()
        for device in self.devices:
            if device.id in device_ids:
                raise ValueError(f"duplicate device id {device.id!r}")
            device_ids.add(device.id)
            if device.hj212 is not None:
                if device.hj212.mn in mns:
                    raise ValueError(f"two devices have hj212 MN {device.hj212.mn!r}")
                mns.add(device.hj212.mn)
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
