"""``GET /api/incidents/{id}/assessment``: the live release assessment of an incident's gases, as GeoJSON.

A FeatureCollection (RFC 7946, WGS-84 lon/lat) with, per assessed substance: the source estimate (point, with the
candidates' posterior), the 95 % source region, the expected and possible threat zones per level, and every
receptor with its zone, people, arrival time and protective-action advice (labelled as advice). The console map
and Grafana read it as it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import shapely
from aiohttp import web
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from daemon.assessment.gamma_search import GammaSearch, GammaSearchResult
from daemon.assessment.runner import Assessment, AssessmentRunner
from daemon.assessment.threat_zones import ADVICE_LABEL, as_multipolygon
from daemon.chain.pipeline import AlarmFlow
from daemon.web.api.errors import NotFound
from daemon.web.api.routes import may_read
from detectors.geofence import METRES_PER_DEGREE

ASSESSMENT_RUNNER: web.AppKey[AssessmentRunner] = web.AppKey("assessment_runner", AssessmentRunner)
FLOW: web.AppKey[Callable[[], AlarmFlow]] = web.AppKey("assessment_flow")
GAMMA_SEARCH: web.AppKey[GammaSearch] = web.AppKey("gamma_search", GammaSearch)


def _to_lon_lat(origin: tuple[float, float]) -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
    lat0, lon0 = origin
    cos_lat = math.cos(math.radians(lat0))

    def convert(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack([lon0 + xy[:, 0] / (METRES_PER_DEGREE * cos_lat), lat0 + xy[:, 1] / METRES_PER_DEGREE])

    return convert


def _geometry(shape: BaseGeometry, origin: tuple[float, float]) -> dict[str, Any]:
    moved = shapely.transform(shape, _to_lon_lat(origin))
    out: dict[str, Any] = shapely.geometry.mapping(moved)
    return out


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def assessment_features(assessment: Assessment, origin: tuple[float, float]) -> list[dict[str, Any]]:
    """The GeoJSON features of one substance's assessment."""
    e = assessment.estimate
    common = {"substance": assessment.substance, "time": assessment.time_s}
    features: list[dict[str, Any]] = []
    if math.isfinite(e.east_m):
        features.append(
            {
                "type": "Feature",
                "geometry": _geometry(shapely.Point(e.east_m, e.north_m), origin),
                "properties": {
                    **common,
                    "feature": "source_estimate",
                    "status": e.status.value,
                    "reason": e.reason,
                    "candidate": e.best_candidate,
                    "candidates": {c.id: round(c.probability, 4) for c in e.candidates},
                    "unlisted_probability": round(e.free_probability, 4),
                    "rate_g_s": _finite(e.rate_g_s),
                    "rate_interval_g_s": [_finite(v) for v in e.rate_interval_g_s],
                    "rate_uncertain": e.rate_uncertain,
                    # Every detector that sees the gas is at full scale: the rate is at least rate_g_s, not about it.
                    "rate_lower_bound": e.rate_lower_bound,
                    "start_time": _finite(e.start_s),
                    "start_interval": [_finite(v) for v in e.start_interval_s],
                    "detectors_seeing": e.detectors_seeing,
                    "detectors_total": e.detectors_total,
                    "summary": assessment.summary(),
                },
            }
        )
    else:
        features.append(
            {
                "type": "Feature",
                "geometry": None,
                "properties": {**common, "feature": "source_estimate", "status": e.status.value, "reason": e.reason},
            }
        )
    if not assessment.region.is_empty:
        features.append(
            {
                "type": "Feature",
                "geometry": _geometry(as_multipolygon(assessment.region), origin),
                "properties": {**common, "feature": "source_region", "credibility": 0.95},
            }
        )
    for level in assessment.levels:
        for certainty, zones in (("expected", assessment.expected), ("possible", assessment.possible)):
            zone = zones[level.name]
            if zone.is_empty:
                continue
            features.append(
                {
                    "type": "Feature",
                    "geometry": _geometry(as_multipolygon(zone), origin),
                    "properties": {
                        **common,
                        "feature": "threat_zone",
                        "level": level.name,
                        "level_ppm": level.ppm,
                        "guideline": level.guideline,
                        "certainty": certainty,
                        "outlook_s": 3600,
                    },
                }
            )
    runner_receptors = {r.id: r for r in assessment.receptor_areas}
    for impact in assessment.receptors:
        area = runner_receptors[impact.id]
        features.append(
            {
                "type": "Feature",
                "geometry": _geometry(area.outline, origin),
                "properties": {
                    **common,
                    "feature": "receptor",
                    "receptor": impact.id,
                    "name": impact.name,
                    "receptor_type": impact.type,
                    "population": impact.population,
                    "expected_zone": impact.expected_zone,
                    "possible_zone": impact.possible_zone,
                    "people_by_zone": impact.people_by_zone,
                    "arrival_min": None if impact.arrival_min is None else round(impact.arrival_min, 1),
                    "outdoor_ppm": round(impact.outdoor_ppm, 3),
                    "indoor_ppm": round(impact.indoor_ppm, 3),
                    "advice": impact.advice,
                    "advice_reason": impact.advice_reason,
                    "advice_label": ADVICE_LABEL,
                },
            }
        )
    return features


def gamma_features(
    result: GammaSearchResult, sensor_ids: list[str], origin: tuple[float, float]
) -> list[dict[str, Any]]:
    """The gamma point-source search as GeoJSON: the most probable position and the 95 % search area."""
    e = result.estimate
    common = {"substance": "gamma", "time": result.time_s, "rising_sensors": [sensor_ids[s] for s in result.rising]}
    out: list[dict[str, Any]] = [
        {
            "type": "Feature",
            "geometry": _geometry(shapely.Point(e.east_m, e.north_m), origin),
            "properties": {
                **common,
                "feature": "gamma_source_estimate",
                "located": result.located,
                "strength_nsv_h_at_1m": _finite(e.strength_nsv_h_at_1m),
                "stations_seeing": e.stations_seeing,
                "stations_used": len(result.stations),
                "summary": result.summary(),
            },
        }
    ]
    if not result.area.is_empty:
        out.append(
            {
                "type": "Feature",
                "geometry": _geometry(as_multipolygon(result.area), origin),
                "properties": {**common, "feature": "gamma_search_area", "credibility": 0.95},
            }
        )
    return out


async def get_incident_assessment(request: web.Request) -> web.Response:
    """The assessment of the gases whose alarms belong to the incident, as a GeoJSON FeatureCollection."""
    await may_read(request)
    runner = request.app.get(ASSESSMENT_RUNNER)
    flow_of = request.app.get(FLOW)
    if runner is None or flow_of is None:
        raise NotFound("this service runs no live release assessment")
    flow = flow_of()
    try:
        row_id = int(request.match_info["incident_id"])
    except ValueError as exc:
        raise NotFound("no such incident") from exc
    key = next((k for k, row in flow.state.incident_rows.items() if row == row_id), None)
    if key is None:
        raise NotFound(f"incident {row_id} is not open in this service (assessments are live only)")
    incident = flow.state.incidents.incident(key)
    views = flow.state.incidents.views
    substances = sorted(
        {
            s
            for a in incident.alarm_ids
            if a in views and (s := runner.table.sensors[views[a].sensor].substance) is not None
        }
    )
    features: list[dict[str, Any]] = []
    for substance in substances:
        if substance in runner.assessments:
            features.extend(assessment_features(runner.assessments[substance], runner.origin))
    # A dry gamma rise among the incident's alarms: the point-source search area.
    gamma = request.app.get(GAMMA_SEARCH)
    result = gamma.latest if gamma is not None else None
    incident_sensors = {views[a].sensor for a in incident.alarm_ids if a in views}
    if result is not None and incident_sensors & set(result.rising):
        features.extend(gamma_features(result, [s.id for s in runner.table.sensors], runner.origin))
    return web.json_response(
        {
            "type": "FeatureCollection",
            "features": features,
            "properties": {
                "incident_id": row_id,
                "proposed_tier": incident.proposed_tier.value if incident.proposed_tier else None,
                "substances": substances,
                "assessed": [s for s in substances if s in runner.assessments],
                "summary": [runner.assessments[s].summary() for s in substances if s in runner.assessments],
                "advice_label": ADVICE_LABEL,
            },
        }
    )


def add_assessment_route(app: web.Application) -> None:
    """Serve ``GET /api/incidents/{id}/assessment`` (404 until a runner is attached)."""
    app.router.add_get("/api/incidents/{incident_id}/assessment", get_incident_assessment)


def attach_assessment(
    app: web.Application, runner: AssessmentRunner, flow: Callable[[], AlarmFlow], gamma: GammaSearch | None = None
) -> None:
    """Answer the assessment endpoint from ``runner``'s (and ``gamma``'s) latest results (before the app starts)."""
    app[ASSESSMENT_RUNNER] = runner
    app[FLOW] = flow
    if gamma is not None:
        app[GAMMA_SEARCH] = gamma
