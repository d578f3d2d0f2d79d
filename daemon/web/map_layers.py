"""The map's own layers from the site file, as GeoJSON, and the configured tile sources."""

from __future__ import annotations

from typing import Any

from daemon.config import MapConfig
from rules.site import LINE_LAYERS, MapFeature, Position, Receptor, Site


def _polygon(points: list[Position]) -> dict[str, Any]:
    ring = [[p.lon, p.lat] for p in points]  # GeoJSON is lon, lat (RFC 7946 section 3.1.1)
    if ring[0] != ring[-1]:
        ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def _geometry(feature: MapFeature) -> dict[str, Any]:
    if feature.layer in LINE_LAYERS:
        return {"type": "LineString", "coordinates": [[p.lon, p.lat] for p in feature.points]}
    return _polygon(feature.points)


def _receptor(receptor: Receptor) -> dict[str, Any]:
    """A populated place, from the same ``receptors:`` entry the release assessment counts people in."""
    return {
        "type": "Feature",
        "id": receptor.id,
        "geometry": _polygon(receptor.polygon),
        "properties": {
            "name": receptor.name,
            "layer": receptor.type.value,
            "zone": None,
            "receptor": True,
            "population": receptor.population,
        },
    }


def site_geojson(site: Site) -> dict[str, Any]:
    """The site's map features and receptors as one GeoJSON FeatureCollection (RFC 7946); ``layer`` says which."""
    features = [
        {
            "type": "Feature",
            "id": f.id,
            "geometry": _geometry(f),
            "properties": {"name": f.name, "layer": f.layer.value, "zone": f.zone, "receptor": False},
        }
        for f in site.features
    ]
    return {"type": "FeatureCollection", "features": [*features, *(_receptor(r) for r in site.receptors)]}


def map_settings(site: Site, config: MapConfig) -> dict[str, Any]:
    """What the console map starts from: centre, zoom, tile sources (maybe none) and the offline layers."""
    return {
        "center": {"lat": site.center.lat, "lon": site.center.lon},
        "zoom": site.zoom,
        "tiles": [t.model_dump() for t in config.tiles],
        "layers": site_geojson(site),
    }
