"""The OpenAPI 3.1 description of the API (schemas are JSON Schema 2020-12, so tests validate responses with it)."""

from __future__ import annotations

from typing import Any

from daemon.store.rows import NOTIFICATION_STATES
from daemon.web.review_openapi import NUM, review_paths
from plans.model import Tier
from rules.model import Priority

LEVELS = [tier.response_level for tier in reversed(Tier)]  # I (red) .. IV (blue)

STR = {"type": ["string", "null"]}
INT = {"type": ["integer", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


SCHEMAS: dict[str, Any] = {
    "Error": _obj(["error", "status"], {"error": {"type": "string"}, "status": {"type": "integer"}}),
    "Alarm": _obj(
        ["id", "rule", "sensor_id", "priority", "state", "raised_at"],
        {
            "id": {"type": "integer"},
            "rule": {"type": "string"},
            "sensor_id": {"type": "string"},
            "device_id": {"type": "string"},
            "site": {"type": "string"},
            "zone": {"type": "string"},
            "kind": {"type": "string"},
            "priority": {"enum": [priority.value for priority in Priority]},
            "state": {"type": "string"},
            "message": {"type": "string"},
            "value": NUM,
            "level": NUM,
            "raised_at": {"type": "number"},
            "cleared_at": NUM,
            "acknowledged_at": NUM,
            "acknowledged_by": STR,
            "shelved_until": NUM,
            "latched": {"type": "boolean"},
            "incident_id": INT,
            "drill": {"type": "boolean"},
            "active": {"type": "boolean"},
        },
    ),
    "AlarmEvent": _obj(
        ["alarm_id", "time", "to_state", "actor", "reason"],
        {
            "alarm_id": {"type": "integer"},
            "time": {"type": "number"},
            "from_state": STR,
            "to_state": {"type": "string"},
            "actor": {"type": "string"},
            "reason": {"type": "string"},
        },
    ),
    "Incident": _obj(
        ["id", "site", "title", "proposed_tier", "state", "opened_at", "deadlines"],
        {
            "id": {"type": "integer"},
            "site": {"type": "string"},
            "zone": STR,
            "title": {"type": "string"},
            "proposed_tier": {"enum": [*(tier.value for tier in Tier), "none"]},  # none: an alarm flood
            "confirmed_level": {"enum": [*LEVELS, None]},
            "state": {"type": "string"},
            "opened_at": {"type": "number"},
            "closed_at": NUM,
            "closed_by": STR,
            "drill": {"type": "boolean"},
            "deadlines": {
                "type": "array",
                "description": "Soonest first: the open page's acknowledgement (then escalation) and each report owed.",
                "items": _obj(
                    ["kind", "name", "due_at"],
                    {
                        "kind": {"enum": ["acknowledge", "report"]},
                        "name": {"type": "string"},
                        "due_at": {"type": "number"},
                        "done_at": NUM,
                    },
                ),
            },
            "zones": {"type": "array", "items": {"type": "string"}},
            "kinds": {"type": "array", "items": {"type": "string"}},
        },
    ),
    "TimelineEntry": _obj(
        ["incident_id", "time", "type", "actor", "detail"],
        {
            "incident_id": {"type": "integer"},
            "time": {"type": "number"},
            "type": {"type": "string"},
            "actor": {"type": "string"},
            "detail": {},
        },
    ),
    "ChecklistItem": _obj(
        ["id", "incident_id", "position", "text"],
        {
            "id": {"type": "integer"},
            "incident_id": {"type": "integer"},
            "tier": {"type": "string"},
            "position": {"type": "integer"},
            "text": {"type": "string"},
            "due_at": NUM,
            "done_at": NUM,
            "done_by": STR,
        },
    ),
    "NotificationIds": {"type": "array", "items": {"type": "integer"}},
    "Notification": _obj(
        ["id", "event", "channel", "recipient", "state", "attempts", "created_at"],
        {
            "id": {"type": "integer"},
            "idempotency_key": {"type": "string"},
            "alarm_id": INT,
            "incident_id": INT,
            "event": {"type": "string"},
            "channel": {"type": "string"},
            "recipient": {"type": "string"},
            "state": {"enum": list(NOTIFICATION_STATES)},
            "attempts": {"type": "integer"},
            "last_error": STR,
            "created_at": {"type": "number"},
            "delivered_at": NUM,
            "acknowledged_at": NUM,
            "acknowledged_by": STR,
        },
    ),
    "SensorService": _obj(
        ["sensor_id", "out_of_service", "since", "actor", "reason"],
        {
            "sensor_id": {"type": "string"},
            "out_of_service": {"type": "boolean"},
            "since": {"type": "number"},
            "actor": {"type": "string"},
            "reason": {"type": "string"},
        },
    ),
    "CredibilityReset": _obj(
        ["sensor_id", "reset_at", "actor", "reason", "alarm_ids"],
        {
            "sensor_id": {"type": "string"},
            "reset_at": {"type": "number"},
            "actor": {"type": "string"},
            "reason": {"type": "string"},
            "alarm_ids": {"type": "array", "items": {"type": "integer"}},
        },
    ),
    "Site": _obj(
        ["site", "name", "center", "zones", "sensors", "drill"],
        {
            "site": {"type": "string"},
            "name": {"type": "string"},
            "center": _obj(["lat", "lon"], {"lat": {"type": "number"}, "lon": {"type": "number"}}),
            "zones": {"type": "array", "items": _obj(["id", "name"], {})},
            "drill": {"type": ["object", "null"]},
            "sensors": {
                "type": "array",
                "items": _obj(
                    ["id", "device", "kind", "lat", "lon", "state"],
                    {
                        "id": {"type": "string"},
                        "device": {"type": "string"},
                        "kind": {"type": "string"},
                        "unit": {"type": "string"},
                        "zone": {"type": "string"},
                        "lat": {"type": "number"},
                        "lon": {"type": "number"},
                        "value": NUM,
                        "time": NUM,
                        "state": {"enum": ["ok", "alarm", "shelved", "out_of_service", "offline", "no_data"]},
                        "alarm_priority": STR,
                    },
                ),
            },
        },
    ),
}

_ERRORS = {
    str(code): {"description": text, "content": {"application/json": {"schema": _ref("Error")}}}
    for code, text in (
        (400, "Bad JSON or an invalid value"),
        (401, "No valid bearer token"),
        (403, "The role may not do this"),
        (404, "Unknown id"),
        (409, "The action does not fit the current state"),
        (413, "Body too large"),
    )
}


def _json_response(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _path_param(name: str, kind: str = "integer") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}}


def _read(summary: str, schema: dict[str, Any], params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {"200": _json_response(schema), **{k: _ERRORS[k] for k in ("400", "401", "403", "404")}},
    }
    if params:
        operation["parameters"] = params
    return {"get": operation}


def _write(
    summary: str,
    role: str,
    body: dict[str, Any],
    result: str,
    schema: str,
    params: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "post": {
            "summary": f"{summary} (role: {role} or higher)",
            "security": [{"bearer": []}],
            "parameters": params,
            "requestBody": {"required": False, "content": {"application/json": {"schema": body}}},
            "responses": {"200": _json_response(_obj([result], {result: _ref(schema)})), **_ERRORS},
        }
    }


def _body(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {**_obj(required, properties), "additionalProperties": True}


REASON = {"reason": {"type": "string", "maxLength": 2000}}
CONSOLE_PAGE = _obj(
    ["id", "page_id", "state", "created_at", "subject"],
    {
        "id": {"type": "integer"},
        "page_id": STR,
        "incident_id": INT,
        "state": {"type": "string"},
        "created_at": {"type": "number"},
        "delivered_at": NUM,
        "acknowledged_at": NUM,
        "acknowledged_by": STR,
        "role": STR,
        "person": {"type": "string"},
        "subject": {"type": "string"},
        "tier": STR,
        "ack_deadline": NUM,
    },
)
TEXT = {"text": {"type": "string", "maxLength": 2000}}
ALARM = [_path_param("alarm_id")]
INCIDENT = [_path_param("incident_id")]
LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}
DRILL_RUN = {
    "name": "drill_run",
    "in": "query",
    "description": "Show this drill run's rows only; without it, live rows only (live and drill never mix).",
    "schema": {"type": "integer"},
}


def openapi_document() -> dict[str, Any]:
    """The whole description."""
    paths: dict[str, Any] = {
        "/api/alarms": _read(
            "Active alarms first, then recent ones; `state=needs_action`: every alarm a person must act on, "
            "by priority then newest, with `actions`, `unit`, `device_name`, `zone_name` and `reraised_at`",
            _obj(["alarms"], {"alarms": {"type": "array", "items": _ref("Alarm")}}),
            [{"name": "state", "in": "query", "schema": {"enum": ["all", "active", "needs_action"]}}, LIMIT, DRILL_RUN],
        ),
        "/api/alarms/{alarm_id}": _read(
            "One alarm with its history",
            _obj(
                ["alarm", "events"], {"alarm": _ref("Alarm"), "events": {"type": "array", "items": _ref("AlarmEvent")}}
            ),
            ALARM,
        ),
        "/api/incidents": _read(
            "Incidents, open first",
            _obj(["incidents"], {"incidents": {"type": "array", "items": _ref("Incident")}}),
            [{"name": "state", "in": "query", "schema": {"enum": ["all", "open"]}}, LIMIT, DRILL_RUN],
        ),
        "/api/incidents/{incident_id}/assessment": _read(
            "The live release assessment of the incident's gases as GeoJSON (docs/assessment.md)",
            _obj(
                ["type", "features", "properties"],
                {
                    "type": {"const": "FeatureCollection"},
                    "features": {
                        "type": "array",
                        "items": _obj(["type", "geometry", "properties"], {"type": {"const": "Feature"}}),
                    },
                    "properties": _obj(
                        ["incident_id", "proposed_tier", "substances", "summary", "advice_label"],
                        {"incident_id": {"type": "integer"}, "proposed_tier": STR},
                    ),
                },
            ),
            INCIDENT,
        ),
        "/api/incidents/{incident_id}": _read(
            "One incident with timeline, checklist and alarms",
            _obj(
                ["incident", "timeline", "checklist", "alarms"],
                {
                    "incident": _ref("Incident"),
                    "timeline": {"type": "array", "items": _ref("TimelineEntry")},
                    "checklist": {"type": "array", "items": _ref("ChecklistItem")},
                    "alarms": {"type": "array", "items": _ref("Alarm")},
                },
            ),
            INCIDENT,
        ),
        "/api/notifications": _read(
            "Recent notifications",
            _obj(["notifications"], {"notifications": {"type": "array", "items": _ref("Notification")}}),
            [{"name": "state", "in": "query", "schema": {"enum": ["all", "unacknowledged"]}}, LIMIT],
        ),
        "/api/site": _read("Site map: sensors, positions, states, running drill", _ref("Site"), [DRILL_RUN]),
        "/api/me": _read(
            "The token's user and what the role may do",
            _obj(
                ["name", "role", "may"],
                {"name": {"type": "string"}, "role": {"type": "string"}, "may": {"type": "object"}},
            ),
        ),
        "/api/login": {
            "post": {
                "summary": "A new bearer token for a user name and password (failures limited per address and user)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": _obj(
                                ["user", "password"],
                                {
                                    "user": {"type": "string", "maxLength": 64},
                                    "password": {"type": "string", "maxLength": 1024},
                                },
                            )
                        }
                    },
                },
                "responses": {
                    "200": _json_response(
                        _obj(
                            ["token", "user", "role"],
                            {"token": {"type": "string"}, "user": {"type": "string"}, "role": {"type": "string"}},
                        )
                    ),
                    **{k: _ERRORS[k] for k in ("400", "401", "413")},
                    "429": {
                        "description": "Too many failed logins from this address or for this user",
                        "content": {"application/json": {"schema": _ref("Error")}},
                    },
                },
            }
        },
        "/api/map": _read(
            "Map centre, zoom, tile sources and the site's offline GeoJSON layers",
            _obj(
                ["center", "zoom", "tiles", "layers"],
                {"zoom": {"type": "integer"}, "tiles": {"type": "array"}, "layers": {"type": "object"}},
            ),
        ),
        "/api/duty": _read(
            "Who is on duty now in each role, and how to reach them",
            _obj(["roles"], {"roles": {"type": "array", "items": _obj(["role", "role_name", "people"], {})}}),
        ),
        "/api/drill-runs": _read(
            "Drill runs written into this database, newest first",
            _obj(["drill_runs"], {"drill_runs": {"type": "array", "items": _obj(["id", "source", "status"], {})}}),
        ),
        "/api/sensors/{sensor_id}/history": _read(
            "A sensor's readings of the last hours (thinned to at most 1,500 points) and its open alarms",
            _obj(
                ["sensor", "unit", "times", "values", "alarms"],
                {
                    "times": {"type": "array", "items": {"type": "number"}},
                    "values": {"type": "array", "items": {"type": "number"}},
                    "alarms": {"type": "array", "items": _ref("Alarm")},
                },
            ),
            [
                _path_param("sensor_id", "string"),
                {"name": "hours", "in": "query", "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": 168}},
                DRILL_RUN,
            ],
        ),
        "/api/events": {
            "get": {
                "summary": "Live events (Server-Sent Events); the token goes in the Authorization header, not the URL",
                "security": [{"bearer": []}],
                "responses": {"200": {"description": "text/event-stream", "content": {"text/event-stream": {}}}},
            }
        },
        "/api/openapi.json": {
            "get": {"summary": "This document", "responses": {"200": _json_response({"type": "object"})}}
        },
        "/api/alarms/{alarm_id}/acknowledge": _write(
            "Acknowledge an alarm", "operator", _body([], REASON), "alarm", "Alarm", ALARM
        ),
        "/api/alarms/{alarm_id}/shelve": _write(
            "Shelve an alarm for at most the configured maximum",
            "supervisor",
            _body(["duration_s", "reason"], {"duration_s": {"type": "number", "exclusiveMinimum": 0}, **REASON}),
            "alarm",
            "Alarm",
            ALARM,
        ),
        "/api/alarms/{alarm_id}/unshelve": _write(
            "Unshelve an alarm", "supervisor", _body([], REASON), "alarm", "Alarm", ALARM
        ),
        "/api/alarms/{alarm_id}/reset": _write(
            "Reset a latched alarm", "operator", _body([], REASON), "alarm", "Alarm", ALARM
        ),
        "/api/alarms/{alarm_id}/comment": _write(
            "Comment on an alarm", "operator", _body(["text"], TEXT), "alarm", "Alarm", ALARM
        ),
        "/api/notifications/{notification_id}/acknowledge": _write(
            "Acknowledge a notification",
            "operator",
            _body([], {}),
            "notification",
            "Notification",
            [_path_param("notification_id")],
        ),
        "/api/pages": _read(
            "The caller's console pages of the last day (a page for their roster person or role), newest first",
            _obj(["user", "pages"], {"user": {"type": "string"}, "pages": {"type": "array", "items": CONSOLE_PAGE}}),
        ),
        "/api/pages/shown": _write(
            "The console shows these page rows on a visible screen: the caller's pending ones become delivered",
            "viewer",
            _body(["ids"], {"ids": {"type": "array", "items": {"type": "integer"}, "maxItems": 200}}),
            "delivered",
            "NotificationIds",
            [],
        ),
        "/api/pages/{notification_id}/acknowledge": _write(
            "Acknowledge one of the caller's console pages (stops the page's chains and escalation)",
            "operator",
            _body([], {}),
            "notification",
            "Notification",
            [_path_param("notification_id")],
        ),
        "/api/sensors/{sensor_id}/out-of-service": _write(
            "Put a sensor out of service",
            "supervisor",
            _body(["reason"], REASON),
            "sensor",
            "SensorService",
            [_path_param("sensor_id", "string")],
        ),
        "/api/sensors/{sensor_id}/in-service": _write(
            "Put a sensor back in service",
            "supervisor",
            _body([], REASON),
            "sensor",
            "SensorService",
            [_path_param("sensor_id", "string")],
        ),
        "/api/sensors/{sensor_id}/reset-credibility": _write(
            "Reset 'reading not credible' (fold-back, dead probe) after checking the probe",
            "operator",
            _body(["reason"], REASON),
            "reset",
            "CredibilityReset",
            [_path_param("sensor_id", "string")],
        ),
        "/api/incidents/{incident_id}/comment": _write(
            "Comment on an incident", "operator", _body(["text"], TEXT), "incident", "Incident", INCIDENT
        ),
        "/api/incidents/{incident_id}/checklist/{item_id}/done": _write(
            "Tick a checklist item",
            "operator",
            _body([], {}),
            "item",
            "ChecklistItem",
            [*INCIDENT, _path_param("item_id")],
        ),
        "/api/incidents/{incident_id}/confirm-level": _write(
            "Confirm the response level",
            "supervisor",
            _body(["level"], {"level": {"enum": LEVELS}, **REASON}),
            "incident",
            "Incident",
            INCIDENT,
        ),
        "/api/incidents/{incident_id}/close": _write(
            "Close an incident", "supervisor", _body([], REASON), "incident", "Incident", INCIDENT
        ),
    }
    paths.update(review_paths())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "hazwatch duty API",
            "version": "1",
            "description": "Alarms, incidents and notifications of the environmental-emergency centre.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
