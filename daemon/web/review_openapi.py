"""OpenAPI description of the data review endpoints (merged into the API's document)."""

from __future__ import annotations

from typing import Any

NUM = {"type": ["number", "null"]}
_STATION_DAY = [
    {"name": "station", "in": "path", "required": True, "schema": {"type": "string"}},
    {"name": "day", "in": "path", "required": True, "schema": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}},
]
_RATIOS = {
    "type": "object",
    "properties": {"capture": NUM, "valid_before": NUM, "valid_after": NUM, "qc_pass": NUM},
}
REVIEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["station", "day", "tier", "state", "actions", "ratios", "sensors", "flagged"],
    "properties": {
        "station": {"type": "string"},
        "day": {"type": "string"},
        "day_start": {"type": "number", "description": "unix time the local day starts"},
        "day_end": {"type": "number"},
        "tier": {"type": "integer", "minimum": 1, "maximum": 3},
        "state": {"enum": ["not_started", "in_review", "approved"]},
        "actions": {"type": "array", "items": {"type": "object"}},
        "ratios": _RATIOS,
        "sensors": {"type": "object", "additionalProperties": {"type": "object"}},
        "flagged": {"type": "array", "items": {"type": "object"}},
    },
}
_ERRORS = {
    status: {"description": text, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for status, text in (
        ("400", "Bad request"),
        ("401", "No valid token"),
        ("404", "No such station or action"),
        ("409", "Not allowed now (another tier, closed day, missing reason code or comment)"),
    )
}


def review_paths() -> dict[str, Any]:
    """The paths of /api/review."""
    json_review = {"description": "OK", "content": {"application/json": {"schema": REVIEW_SCHEMA}}}
    return {
        "/api/review/{station}/{day}": {
            "get": {
                "summary": "A station-day's review: state, audit trail, flagged readings, ratios before/after review",
                "parameters": _STATION_DAY,
                "responses": {"200": json_review, **_ERRORS},
            }
        },
        "/api/review/{station}/{day}/{action}": {
            "post": {
                "summary": "A reviewer's action (roles reviewer_station, reviewer_centre, reviewer_bureau, by tier)",
                "security": [{"bearer": []}],
                "parameters": [
                    *_STATION_DAY,
                    {
                        "name": "action",
                        "in": "path",
                        "required": True,
                        "schema": {"enum": ["invalidate", "confirm", "qc", "submit", "approve", "return"]},
                    },
                ],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "sensor_id": {"type": ["string", "null"]},
                                    "from": NUM,
                                    "to": NUM,
                                    "reason_code": {"type": ["string", "null"]},
                                    "comment": {"type": "string", "maxLength": 2000},
                                },
                            }
                        }
                    },
                },
                "responses": {"200": json_review, **_ERRORS},
            }
        },
        "/api/review/ratios": {
            "get": {
                "summary": "Capture, valid (before/after review) and QC-pass ratios per station and network",
                "parameters": [
                    {"name": "from", "in": "query", "required": True, "schema": {"type": "string"}},
                    {"name": "to", "in": "query", "schema": {"type": "string"}},
                    {"name": "period", "in": "query", "schema": {"enum": ["day", "month"]}},
                    {"name": "format", "in": "query", "schema": {"enum": ["json", "csv"]}},
                ],
                "responses": {
                    "200": {
                        "description": "JSON rows, or CSV with the same columns",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"rows": {"type": "array", "items": {"type": "object"}}},
                                }
                            },
                            "text/csv": {},
                        },
                    },
                    **{k: v for k, v in _ERRORS.items() if k in ("400", "401")},
                },
            }
        },
    }
