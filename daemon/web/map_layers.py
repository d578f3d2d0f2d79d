"""The map's own layers from the site file, as GeoJSON, and the configured tile sources."""

from __future__ import annotations

from typing import Any

from daemon.config import MapConfig
from rules.site import LINE_LAYERS, POINT_LAYERS, MapFeature, Site


def _geometry(feature: MapFeature) -> dict[str, Any]:
    coordinates = [[p.lon, p.lat] for p in feature.points]  # GeoJSON is lon, lat (RFC 7946 section 3.1.1)
    if feature.layer in POINT_LAYERS:
        return {"type": "Point", "coordinates": coordinates[0]}
    if feature.layer in LINE_LAYERS:
        return {"type": "LineString", "coordinates": coordinates}
    ring = coordinates if coordinates[0] == coordinates[-1] else [*coordinates, coordinates[0]]
    return {"type": "Polygon", "coordinates": [ring]}


def site_geojson(site: Site) -> dict[str, Any]:
    """Every map feature of the site as one GeoJSON FeatureCollection (RFC 7946); ``layer`` says which layer."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": f.id,
                "geometry": _geometry(f),
                "properties": {"name": f.name, "layer": f.layer.value, "zone": f.zone},
            }
            for f in site.features
        ],
    }


def map_settings(site: Site, config: MapConfig) -> dict[str, Any]:
    """What the console map starts from: centre, zoom, tile sources (maybe none) and the offline layers."""
    return {
        "center": {"lat": site.center.lat, "lon": site.center.lon},
        "zoom": site.zoom,
        "tiles": [t.model_dump() for t in config.tiles],
        "layers": site_geojson(site),
    }
