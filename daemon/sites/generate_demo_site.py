"""Regenerate ``demo-park.yaml``: ``python -m daemon.sites.generate_demo_site > daemon/sites/demo-park.yaml``.

The demo site is fictional: a 3 km x 2 km chemical park on a river estuary, its boundary gas
detectors, three weather stations, a ring of environmental gamma stations and the sealed
sources used inside the park. Its levels come from the original sources: gas from GB/T 50493-2019 and
GBZ 2.1 (fixed detector alarm levels at 100 %/200 % of the occupational limit), the US EPA AEGLs and the NIOSH IDLH
list (``detectors/substances.py``); gamma background from the BfS ODL and RIVM networks (50-200 nSv/h).
"""

from __future__ import annotations

import math
import sys
from typing import Any

import yaml

from detectors.substances import SUBSTANCES

CENTER = (31.9000, 121.1000)
M_PER_DEG_LAT = 111_320.0


def offset(north_m: float, east_m: float) -> dict[str, float]:
    """Position at a metre offset from the park centre."""
    lat = CENTER[0] + north_m / M_PER_DEG_LAT
    lon = CENTER[1] + east_m / (M_PER_DEG_LAT * math.cos(math.radians(CENTER[0])))
    return {"lat": round(lat, 6), "lon": round(lon, 6)}


def gas_sensor(device: str, gas: str) -> dict[str, Any]:
    """A fixed point detector channel. Its alarm levels come from the gas (rules/defaults/gas.yaml and the
    detection core: GB/T 50493-2019 level 1/2 at 100 %/200 % of the GBZ 2.1 limit, AEGL means), so none are set here.
    """
    limit = SUBSTANCES[gas].occupational_limit_ppm
    return {
        "id": f"{device}-{gas.lower()}",
        "name": gas.lower(),
        "kind": "gas",
        "substance": gas,
        "unit": "ppm",
        "full_scale": round(max(20 * limit, SUBSTANCES[gas].idlh * 2), 1),
    }


def rectangle(north: tuple[float, float], east: tuple[float, float]) -> list[dict[str, float]]:
    """The four corners of a north/east metre box, counter-clockwise from south-west."""
    return [offset(north[0], east[0]), offset(north[0], east[1]), offset(north[1], east[1]), offset(north[1], east[0])]


def map_features() -> list[dict[str, Any]]:
    """Offline map layers: the park fence, plant outlines, the river and roads (populated places are receptors)."""
    return [
        {"id": "park-fence", "name": "园区边界 / park fence", "layer": "zone",
         "points": rectangle((-1000, 1000), (-1500, 1500))},
        {"id": "plant-chlor-alkali", "name": "氯碱厂 / chlor-alkali plant", "layer": "plant",
         "zone": "plant-chlor-alkali",
         "points": rectangle((-100, 450), (-550, 100))},
        {"id": "plant-fluoro", "name": "氟化工厂 / fluorochemical plant", "layer": "plant", "zone": "plant-fluoro",
         "points": rectangle((-450, -100), (550, 1050))},
        {"id": "plant-ammonia", "name": "合成氨厂 / ammonia plant", "layer": "plant", "zone": "plant-ammonia",
         "points": rectangle((-750, -350), (-1000, -550))},
        {"id": "river", "name": "入海河道 / estuary river", "layer": "river",
         "points": [offset(1250, -6000), offset(1400, -2000), offset(1300, 1000), offset(1500, 6000)]},
        {"id": "highway-g15", "name": "沿海高速 / coastal highway", "layer": "road",
         "points": [offset(-6000, -1900), offset(6000, -1800)]},
        {"id": "park-avenue", "name": "园区大道 / park avenue", "layer": "road",
         "points": [offset(-50, -1900), offset(-50, 3200)]},
    ]  # fmt: skip


SIDE_ZH = {"north": "北", "east": "东", "south": "南", "west": "西"}


def candidate_sources() -> list[dict[str, Any]]:
    """Plant units, tanks and pipe racks a release may come from (for source-term estimation)."""
    units = [
        ("cl2-liquefaction", "Chlor-alkali Cl2 liquefaction unit", (250.0, -650.0), ["Cl2"], 2.0),
        ("cl2-tank-farm", "Chlor-alkali liquid Cl2 tank farm", (-150.0, -250.0), ["Cl2"], 3.0),
        ("hcl-synthesis", "HCl synthesis furnace", (150.0, 150.0), ["HCl", "Cl2"], 5.0),
        ("hf-storage", "Fluorochemical anhydrous HF storage", (-380.0, 700.0), ["HF"], 2.0),
        ("phosgene-unit", "Phosgene unit", (-50.0, 1050.0), ["COCl2", "Cl2"], 4.0),
        ("nh3-sphere", "Ammonia storage sphere", (-500.0, -900.0), ["NH3"], 3.0),
        ("h2s-stripper", "Sour-water stripper", (-700.0, -550.0), ["H2S", "NH3"], 6.0),
        ("pipe-rack-main", "Main pipe rack (Cl2 / NH3)", (450.0, 200.0), ["Cl2", "NH3"], 6.0),
    ]
    return [
        {"id": sid, "name": name, "position": offset(north, east), "substances": gases, "release_height_m": height}
        for sid, name, (north, east), gases, height in units
    ]


def receptors() -> list[dict[str, Any]]:
    """Populated places around the park. Populations are invented for the demo."""
    places = [
        (
            "riverside-estate",
            "河畔小区 / Riverside estate (north bank)",
            "residential",
            (1200.0, 1650.0, -950.0, -350.0),
            2600,
        ),
        ("haibin-village", "海滨村 / Haibin village", "residential", (-350.0, 350.0, 1800.0, 2400.0), 3200),
        ("new-town", "新城 / New town (south)", "residential", (-2300.0, -1400.0, -1000.0, 900.0), 18000),
        (
            "new-town-school",
            "新城第二小学 / New town No. 2 primary school",
            "school",
            (-1600.0, -1450.0, 150.0, 300.0),
            1100,
        ),
        (
            "binhai-hospital",
            "滨海区医院 / Binhai district hospital",
            "hospital",
            (-1900.0, -1750.0, -450.0, -300.0),
            480,
        ),
        ("haibin-care-home", "海滨养老院 / Haibin nursing home", "nursing_home", (400.0, 500.0, 2050.0, 2150.0), 120),
        ("logistics-park", "西部物流园 / West logistics park", "workplace", (-500.0, 500.0, -2300.0, -1750.0), 850),
    ]
    return [
        {
            "id": rid,
            "name": name,
            "type": kind,
            "polygon": rectangle((box[0], box[1]), (box[2], box[3])),
            "population": people,
        }
        for rid, name, kind, box, people in places
    ]


def build() -> dict[str, Any]:
    """The whole site as plain data."""
    zones = [
        {"id": "boundary-north", "name": "North boundary (river side)", "type": "boundary"},
        {"id": "boundary-east", "name": "East boundary (Haibin village)", "type": "boundary"},
        {"id": "boundary-south", "name": "South boundary (new town)", "type": "boundary"},
        {"id": "boundary-west", "name": "West boundary (highway)", "type": "boundary"},
        {"id": "plant-chlor-alkali", "name": "Chlor-alkali plant", "type": "plant"},
        {"id": "plant-fluoro", "name": "Fluorochemical plant", "type": "plant"},
        {"id": "plant-ammonia", "name": "Ammonia and fertiliser plant", "type": "plant"},
        {"id": "ring-residential", "name": "Residential ring (gamma network)", "type": "residential"},
        {"id": "ring-industrial", "name": "Industrial ring (gamma network)", "type": "industrial"},
    ]
    devices: list[dict[str, Any]] = []
    # 20 boundary stations x 2 gases = 40 gas sensors, 5 per side.
    gases_by_side = {
        "north": [("Cl2", "HCl"), ("Cl2", "COCl2"), ("HF", "HCl"), ("NH3", "H2S"), ("Cl2", "NH3")],
        "east": [("Cl2", "HCl"), ("HF", "NH3"), ("H2S", "NH3"), ("COCl2", "Cl2"), ("HF", "HCl")],
        "south": [("NH3", "H2S"), ("Cl2", "HCl"), ("HF", "COCl2"), ("NH3", "Cl2"), ("H2S", "HCl")],
        "west": [("HF", "Cl2"), ("NH3", "HCl"), ("Cl2", "H2S"), ("COCl2", "HF"), ("NH3", "HCl")],
    }
    half_ns, half_ew = 1000.0, 1500.0
    for side, pairs in gases_by_side.items():
        for i, pair in enumerate(pairs):
            frac = -0.8 + 0.4 * i
            north, east = {
                "north": (half_ns, frac * half_ew),
                "south": (-half_ns, frac * half_ew),
                "east": (frac * half_ns, half_ew),
                "west": (frac * half_ns, -half_ew),
            }[side]
            device = f"gas-{side[0]}{i + 1:02d}"
            devices.append(
                {
                    "id": device,
                    "name": f"{SIDE_ZH[side]}边界气体 {side[0].upper()}{i + 1} / {side} boundary gas {i + 1}",
                    "type": "gas_detector",
                    "position": offset(north, east),
                    "zone": f"boundary-{side}",
                    "report_interval_s": 10,
                    "sensors": [gas_sensor(device, gas) for gas in pair],
                }
            )
    for i, (north, east, zone) in enumerate(
        [(0.0, 0.0, "plant-chlor-alkali"), (1800.0, 2600.0, "ring-residential"), (-2200.0, -2400.0, "ring-industrial")]
    ):
        device = f"wx-{i + 1:02d}"
        devices.append(
            {
                "id": device,
                "name": f"气象站 {i + 1} / weather station {i + 1}",
                "type": "weather_station",
                "position": offset(north, east),
                "zone": zone,
                "report_interval_s": 60,
                "sensors": [
                    {"id": f"{device}-wind-speed", "name": "wind_speed", "kind": "wind_speed", "unit": "m/s"},
                    {"id": f"{device}-wind-dir", "name": "wind_dir", "kind": "wind_direction", "unit": "deg"},
                    {"id": f"{device}-rain", "name": "rain", "kind": "rain_rate", "unit": "mm/h"},
                    {"id": f"{device}-temp", "name": "temp", "kind": "temperature", "unit": "Cel"},
                ],
            }
        )
    # Ten gamma stations on a ring 2.5-6 km out; background in the German/Dutch range 55-200 nSv/h. Their levels
    # (200 / 1,000 / 2,000 nSv/h) and the counting test live in rules/defaults/gamma.yaml.
    for i in range(10):
        angle = 2 * math.pi * i / 10
        radius = 2500.0 + 3500.0 * (i % 3) / 2
        device = f"gamma-{i + 1:02d}"
        devices.append(
            {
                "id": device,
                "name": f"辐射环境自动站 {i + 1:02d} / gamma station {i + 1:02d}",
                "type": "gamma_station",
                "position": offset(radius * math.cos(angle), radius * math.sin(angle)),
                "zone": "ring-residential" if i % 2 == 0 else "ring-industrial",
                "report_interval_s": 60,
                "sensors": [
                    {
                        "id": f"{device}-dose",
                        "name": "dose_rate",
                        "kind": "gamma_dose_rate",
                        "unit": "nSv/h",
                        "full_scale": 1.0e7,
                    }
                ],
            }
        )
    # Sealed sources: fixed level/density gauges and mobile Ir-192 radiography cameras. Missing (below 20 % of the
    # commissioning baseline), shielding breach, tamper, battery and mains come from the detection core and
    # rules/defaults/sealed_sources.yaml, computed from the baseline below.
    sources = [
        ("src-gauge-01", "plant-chlor-alkali", "Cs-137", 4, False, 400.0, (200.0, -300.0)),
        ("src-gauge-02", "plant-chlor-alkali", "Cs-137", 5, False, 250.0, (150.0, -150.0)),
        ("src-gauge-03", "plant-fluoro", "Co-60", 3, False, 900.0, (-300.0, 700.0)),
        ("src-gauge-04", "plant-ammonia", "Cs-137", 4, False, 350.0, (-500.0, -800.0)),
        ("src-gauge-05", "plant-fluoro", "Cs-137", 5, False, 220.0, (-250.0, 900.0)),
        ("src-cam-01", "plant-fluoro", "Ir-192", 2, True, 1500.0, (-200.0, 800.0)),
        ("src-cam-02", "plant-chlor-alkali", "Ir-192", 2, True, 1800.0, (300.0, -400.0)),
        ("src-cam-03", "plant-ammonia", "Se-75", 2, True, 1200.0, (-600.0, -700.0)),
    ]
    for device, zone, nuclide, category, mobile, baseline, (north, east) in sources:
        position = offset(north, east)
        sensors: list[dict[str, Any]] = [
            {
                "id": f"{device}-dose",
                "name": "dose_rate",
                "kind": "source_dose_rate",
                "unit": "nSv/h",
                "full_scale": 1.0e8,
            },
            {"id": f"{device}-tamper", "name": "tamper", "kind": "tamper", "unit": "bool"},
            # 12 V lead-acid pack: below 11.4 V it has about a day left (the core's battery-low level).
            {
                "id": f"{device}-battery",
                "name": "battery",
                "kind": "battery_voltage",
                "unit": "V",
                "levels": {"low": 11.4},
                "deadband": 0.2,
                "on_delay_s": 60,
            },
            {"id": f"{device}-mains", "name": "mains", "kind": "mains_power", "unit": "bool"},
        ]
        if mobile:
            sensors += [
                {"id": f"{device}-lat", "name": "lat", "kind": "latitude", "unit": "lat"},
                {"id": f"{device}-lon", "name": "lon", "kind": "longitude", "unit": "lon"},
                {"id": f"{device}-hdop", "name": "hdop", "kind": "hdop", "unit": "1"},
            ]
        spec: dict[str, Any] = {
            "id": device,
            "name": f"{nuclide} {'探伤机' if mobile else '料位计'} {device[-2:]} / "
            f"{nuclide} {'radiography camera' if mobile else 'gauge'} {device[-2:]}",
            "type": "source_monitor",
            "position": position,
            "zone": zone,
            "report_interval_s": 30,
            "source": {
                "nuclide": nuclide,
                "category": category,
                "mobile": mobile,
                "baseline_dose_rate_nsv_h": baseline,
            },
            "sensors": sensors,
        }
        if mobile:
            spec["source"]["geofence"] = {"center": position, "radius_m": 600.0}
        devices.append(spec)
    return {
        "site": "demo-park",
        "name": "Binhai Fine Chemical Park (fictional demo site)",
        "center": offset(0.0, 0.0),
        "zoom": 13,
        "zones": zones,
        "devices": devices,
        "features": map_features(),
        "sources": candidate_sources(),
        "receptors": receptors(),
    }


def main() -> None:
    """Write the site YAML to standard output."""
    sys.stdout.write("# Generated by daemon/sites/generate_demo_site.py - edit that script, not this file.\n")
    yaml.safe_dump(build(), sys.stdout, sort_keys=False, allow_unicode=True, width=120)


if __name__ == "__main__":
    main()
