"""A city-sized site for benchmarks and tests: the demo park's layout repeated as several parks across a city.

The 43.2 M-reading day of issue 16 is 500 sensors at 1 Hz for 24 h. A city centre's network is several chemical
parks and nuclear-sited gamma rings rather than one ever larger park, so the site here is the demo park (103
sensors: boundary gas detectors, gamma stations, weather stations, sealed-source monitors) repeated as parks
12 km apart, with the last park cut (whole devices) so the site has exactly the sensors asked for. Parks that far
apart share no gamma neighbours or rain gauges, as separate parks would not.
Usage: ``python -m daemon.sites.city 500 > /tmp/city.yaml``.
"""

from __future__ import annotations

import copy
import math
import sys
from pathlib import Path
from typing import Any

import yaml

DEMO_SITE = Path(__file__).resolve().parent / "demo-park.yaml"
PARK_SPACING_M = 12_000.0
M_PER_DEG_LAT = 111_320.0


def _shift(point: dict[str, float], north_m: float, east_m: float, lat0: float) -> dict[str, float]:
    lat = point["lat"] + north_m / M_PER_DEG_LAT
    lon = point["lon"] + east_m / (M_PER_DEG_LAT * math.cos(math.radians(lat0)))
    return {"lat": round(lat, 6), "lon": round(lon, 6)}


def _park_offset(park: int) -> tuple[float, float]:
    """Parks on a grid three wide, 12 km apart (park 0 is the demo park where it is)."""
    return (park // 3) * PARK_SPACING_M, (park % 3) * PARK_SPACING_M


def _moved(item: dict[str, Any], park: int, lat0: float, ids: set[str]) -> dict[str, Any]:
    """A copy of a site entry in park ``park``: ids suffixed, every position moved with the park."""
    north, east = _park_offset(park)
    out: dict[str, Any] = copy.deepcopy(item)

    def visit(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"lat", "lon"}:
                return _shift(node, north, east, lat0)
            return {k: (f"{v}-p{park}" if k in ("id", "zone") and v in ids else visit(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [visit(v) for v in node]
        return node

    moved: dict[str, Any] = visit(out)
    return moved


def city_site(n_sensors: int) -> dict[str, Any]:
    """The demo park repeated until the site has ``n_sensors`` sensors (whole devices; the last park is cut)."""
    demo: dict[str, Any] = yaml.safe_load(DEMO_SITE.read_text(encoding="utf-8"))
    lat0 = float(demo["center"]["lat"])
    ids: set[str] = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("id"), str):
                ids.add(node["id"])
            for v in node.values():
                collect(v)
        elif isinstance(node, list):
            for v in node:
                collect(v)

    collect({k: v for k, v in demo.items() if k != "site"})
    site = {**demo, "site": f"city-{n_sensors}", "name": f"City network: demo park layout, {n_sensors} sensors"}
    for key in ("zones", "devices", "features", "sources", "receptors"):
        site[key] = []
    count, park = 0, 0
    while count < n_sensors:
        for key in ("zones", "features", "sources", "receptors"):
            site[key] += [_moved(item, park, lat0, ids) if park else item for item in demo.get(key, [])]
        for device in demo["devices"]:
            size = len(device["sensors"])
            if count + size <= n_sensors:
                site["devices"].append(_moved(device, park, lat0, ids) if park else device)
                count += size
        park += 1
        if park > n_sensors:  # no device small enough to fill the rest
            break
    return site


def sensor_count(site: dict[str, Any]) -> int:
    """How many sensors the site declares."""
    return sum(len(device["sensors"]) for device in site["devices"])


if __name__ == "__main__":
    built = city_site(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
    sys.stdout.write(yaml.safe_dump(built, allow_unicode=True, sort_keys=False))
    print(f"# {sensor_count(built)} sensors", file=sys.stderr)
