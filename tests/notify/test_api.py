"""The HTTP API over real HTTP and a real SQLite file: auth and roles, timeline with actors, 4xx errors, OpenAPI.

The API runs on ``EngineOperations`` over a live pipeline and store writer, as the service wires it. The rows here are
seeded history the running engines do not know, so each action takes the engines' fallback to the store; actions on
alarms the engines raised are proven in ``test_engine_operations.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import jsonschema
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.chain.build import AlarmSetup, build_pipeline
from daemon.clock import ManualClock
from daemon.config import AlarmConfig
from daemon.metrics.instruments import Metrics
from daemon.store.schema import alarms, checklist_items, incidents, notifications
from daemon.store.writer import StoreWriter
from daemon.web.api.auth import add_user
from daemon.web.api.context import ApiContext
from daemon.web.api.engine_operations import EngineOperations
from daemon.web.api.openapi import openapi_document
from daemon.web.api.operations import StoreOperations
from daemon.web.app import create_app
from daemon.web.events import EventBus
from rules.sensor_table import SensorTable
from rules.site import Site

T0 = 1_700_000_000.0


def _alarm(alarm_id: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": alarm_id,
        "rule": "threshold.high",
        "sensor_id": "gas-n01-cl2",
        "device_id": "gas-n01",
        "site": "demo-park",
        "zone": "boundary-north",
        "kind": "gas",
        "priority": "high",
        "state": "active_unack",
        "message": "gas-n01-cl2 above high",
        "value": 5.0,
        "level": 1.0,
        "raised_at": T0,
        "updated_at": T0,
        "drill": False,
        **extra,
    }


async def _seed(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            insert(incidents).values(
                id=1,
                key="INC-1",
                site="demo-park",
                zone="boundary-north",
                title="Chlorine at the north boundary",
                proposed_tier="orange",
                state="open",
                opened_at=T0,
                updated_at=T0,
                detail=json.dumps({"deadlines": [{"name": "initial report", "due_at": T0 + 3600}]}),
                drill=False,
            )
        )
        await connection.execute(
            insert(alarms),
            [
                _alarm(7, incident_id=1, latched=False, cleared_at=None),
                _alarm(8, latched=True, cleared_at=T0 + 60, state="returned_unack", incident_id=1),
            ],
        )
        await connection.execute(
            insert(checklist_items),
            [
                {"id": 1, "incident_id": 1, "tier": "orange", "position": 1, "text": "Call the plant"},
                {"id": 2, "incident_id": 1, "tier": "orange", "position": 2, "text": "Warn downwind"},
            ],
        )
        await connection.execute(
            insert(notifications).values(
                id=1,
                idempotency_key="incident:1:opened|duty|0:webhook",
                incident_id=1,
                alarm_id=None,
                event="opened",
                channel="webhook",
                recipient="duty",
                language="zh",
                payload="{}",
                state="delivered",
                attempts=1,
                next_attempt_at=T0,
                created_at=T0,
                delivered_at=T0 + 1,
                drill=False,
            )
        )


@dataclass
class Api:
    """A running API and tokens per role."""

    base: str
    engine: AsyncEngine
    clock: ManualClock
    bus: EventBus
    tokens: dict[str, str]

    async def call(
        self, method: str, path: str, role: str | None = None, body: Any = None, raw: bytes | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.base + path, data=data, headers=headers) as response,
        ):
            return response.status, await response.json()


@pytest.fixture
async def api(engine: AsyncEngine, demo_site: Site) -> AsyncIterator[Api]:
    """The API app on a free port, on the live engines and store writer, with one user per role."""
    await _seed(engine)
    clock = ManualClock(T0 + 100)
    table = SensorTable.build(demo_site)
    bus = EventBus()
    metrics = Metrics(CollectorRegistry())
    writer = StoreWriter(engine, [s.id for s in table.sensors], metrics)
    writer_task = asyncio.create_task(writer.run())
    pipeline = await build_pipeline(
        engine, table, AlarmSetup.load(AlarmConfig()), writer, metrics, clock, drill=False, resume=False
    )
    operations = EngineOperations(engine, table.index, lambda: pipeline.flow, writer)
    context = ApiContext(operations, bus, clock, table, max_shelve_s=3600)
    app = create_app(engine, CollectorRegistry(), lambda: True, context, max_body_bytes=2048)
    tokens = {role: await add_user(engine, f"{role}-user", role, T0) for role in ("viewer", "operator", "supervisor")}
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield Api(f"http://127.0.0.1:{port}", engine, clock, bus, tokens)
    finally:
        await runner.cleanup()
        writer.close()
        await writer_task


async def test_writes_need_a_token_and_a_role(api: Api) -> None:
    status, body = await api.call("POST", "/api/alarms/7/acknowledge")
    assert (status, body["status"]) == (401, 401)
    assert "Bearer" in body["error"]
    api.tokens["forged"] = "hzw_not-a-real-token"
    assert (await api.call("POST", "/api/alarms/7/acknowledge", "forged"))[0] == 401
    status, body = await api.call("POST", "/api/alarms/7/acknowledge", "viewer")
    assert status == 403
    assert "needs operator" in body["error"]
    shelve = {"duration_s": 600, "reason": "maintenance"}
    assert (await api.call("POST", "/api/alarms/7/shelve", "operator", shelve))[0] == 403
    assert (await api.call("POST", "/api/incidents/1/confirm-level", "operator", {"level": "III"}))[0] == 403
    assert (await api.call("POST", "/api/incidents/1/close", "operator", {}))[0] == 403
    status, body = await api.call("POST", "/api/alarms/7/shelve", "supervisor", shelve)
    assert status == 200
    assert body["alarm"]["state"] == "shelved"
    # Reads are closed unless public_read is set.
    assert (await api.call("GET", "/api/alarms"))[0] == 401
    assert (await api.call("GET", "/api/alarms", "viewer"))[0] == 200


async def test_every_action_is_in_the_timeline_with_its_actor(api: Api) -> None:
    subscription = api.bus.subscribe()
    steps = [
        ("/api/alarms/7/acknowledge", "operator", {"reason": "seen"}),
        ("/api/alarms/7/comment", "operator", {"text": "plant says valve leak"}),
        ("/api/alarms/7/shelve", "supervisor", {"duration_s": 600, "reason": "repair crew on site"}),
        ("/api/alarms/7/unshelve", "supervisor", {}),
        ("/api/alarms/8/acknowledge", "operator", {}),
        ("/api/alarms/8/reset", "operator", {"reason": "checked on site"}),
        ("/api/notifications/1/acknowledge", "operator", {}),
        ("/api/sensors/gas-n01-cl2/out-of-service", "supervisor", {"reason": "sensor swap"}),
        ("/api/sensors/gas-n01-cl2/in-service", "supervisor", {}),
        ("/api/incidents/1/comment", "operator", {"text": "evacuating the loading bay"}),
        ("/api/incidents/1/checklist/1/done", "operator", {}),
        ("/api/incidents/1/confirm-level", "supervisor", {"level": "III", "reason": "city level"}),
    ]
    for path, role, body in steps:
        api.clock.advance(10)
        status, answer = await api.call("POST", path, role, body)
        assert status == 200, (path, answer)
    status, answer = await api.call("POST", "/api/incidents/1/close", "supervisor", {})
    assert status == 409  # alarm 7 is still active
    assert "still has active alarm 7" in answer["error"]
    async with api.engine.begin() as connection:
        await connection.execute(update(alarms).where(alarms.c.id == 7).values(cleared_at=T0 + 500))
    assert (await api.call("POST", "/api/incidents/1/close", "supervisor", {"reason": "all clear"}))[0] == 200

    _, detail = await api.call("GET", "/api/incidents/1", "viewer")
    timeline = [(e["type"], e["actor"]) for e in reversed(detail["timeline"])]  # the API lists newest first
    assert timeline == [
        ("alarm_acknowledged", "operator-user"),
        ("alarm_comment", "operator-user"),
        ("alarm_shelved", "supervisor-user"),
        ("alarm_unshelved", "supervisor-user"),
        ("alarm_acknowledged", "operator-user"),
        ("alarm_reset", "operator-user"),
        ("notification_ack", "operator-user"),
        ("comment", "operator-user"),
        ("checklist_done", "operator-user"),
        ("level_confirmed", "supervisor-user"),
        ("closed", "supervisor-user"),
    ]
    assert detail["incident"]["confirmed_level"] == "III"
    assert detail["incident"]["state"] == "closed"
    assert detail["incident"]["closed_by"] == "supervisor-user"
    assert detail["checklist"][0]["done_by"] == "operator-user"
    _, alarm = await api.call("GET", "/api/alarms/7", "viewer")
    assert [(e["to_state"], e["actor"]) for e in alarm["events"]] == [
        ("active_acked", "operator-user"),
        ("active_acked", "operator-user"),
        ("shelved", "supervisor-user"),
        ("active_acked", "supervisor-user"),
    ]
    assert alarm["alarm"]["acknowledged_by"] == "operator-user"
    _, latched = await api.call("GET", "/api/alarms/8", "viewer")
    assert latched["alarm"]["state"] == "normal"
    assert latched["alarm"]["latched"] is False
    events = []
    while subscription._queue.qsize():
        event = await subscription.get()
        assert event is not None
        events.append(event.type)
    assert events.count("alarm.updated") == 6
    assert "incident.updated" in events


async def test_bad_json_unknown_ids_oversized_bodies_and_state_conflicts(api: Api) -> None:
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("POST", "/api/alarms/7/comment", {"raw": b"{not json"}, 400, "not valid JSON"),
        ("POST", "/api/alarms/7/comment", {"raw": b"[1, 2]"}, 400, "JSON object"),
        ("POST", "/api/alarms/7/comment", {"body": {"text": 5}}, 400, "text must be a string"),
        ("POST", "/api/alarms/7/shelve", {"body": {"duration_s": 99999, "reason": "x"}}, 400, "at most 3600"),
        ("POST", "/api/alarms/7/shelve", {"body": {"duration_s": 60}}, 400, "reason is required"),
        ("POST", "/api/incidents/1/confirm-level", {"body": {"level": "V"}}, 400, "level must be one of"),
        ("POST", "/api/alarms/abc/acknowledge", {}, 400, "alarm_id must be an integer"),
        ("POST", "/api/alarms/999/acknowledge", {}, 404, "no alarm 999"),
        ("GET", "/api/incidents/42", {}, 404, "no incident 42"),
        ("POST", "/api/incidents/1/checklist/99/done", {}, 404, "no checklist item 99"),
        ("POST", "/api/sensors/nope/out-of-service", {"body": {"reason": "x"}}, 404, "no sensor nope"),
        ("POST", "/api/notifications/5/acknowledge", {}, 404, "no notification 5"),
        ("POST", "/api/alarms/7/comment", {"raw": b'{"text": "' + b"x" * 4000 + b'"}'}, 413, ""),
        ("POST", "/api/alarms/7/reset", {}, 409, "not latched"),
        ("GET", "/api/nothing-here", {}, 404, ""),
    ]
    for method, path, payload, status, message in cases:
        got, body = await api.call(method, path, "supervisor", **payload)
        assert got == status, (path, body)
        assert body["status"] == status
        assert message in body["error"]


def _validate(document: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    schema = document["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": document["components"]}).validate(body)


async def test_openapi_describes_every_route_and_responses_validate(api: Api, demo_site: Site) -> None:
    status, document = await api.call("GET", "/api/openapi.json")
    assert status == 200
    assert document == json.loads(json.dumps(openapi_document()))
    jsonschema.Draft202012Validator.check_schema({"$defs": document["components"]["schemas"]})
    app = create_app(
        api.engine,
        CollectorRegistry(),
        lambda: True,
        ApiContext(StoreOperations(api.engine, []), api.bus, api.clock, SensorTable.build(demo_site)),
    )
    routes = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/api/") and route.method != "HEAD"
    }
    described = {(method, path) for path, item in document["paths"].items() for method in item}
    assert routes == described

    for path, concrete in [
        ("/api/alarms", "/api/alarms"),
        ("/api/alarms/{alarm_id}", "/api/alarms/7"),
        ("/api/incidents", "/api/incidents"),
        ("/api/incidents/{incident_id}", "/api/incidents/1"),
        ("/api/notifications", "/api/notifications"),
        ("/api/site", "/api/site"),
        ("/api/me", "/api/me"),
        ("/api/alarms", "/api/alarms?state=needs_action"),
        ("/api/map", "/api/map"),
        ("/api/duty", "/api/duty"),
        ("/api/drill-runs", "/api/drill-runs"),
        ("/api/pages", "/api/pages"),
        ("/api/sensors/{sensor_id}/history", "/api/sensors/gas-n01-cl2/history?hours=1"),
    ]:
        status, body = await api.call("GET", concrete, "viewer")
        _validate(document, path, "get", status, body)
    writes = [
        ("/api/alarms/{alarm_id}/acknowledge", "/api/alarms/7/acknowledge", {}),
        ("/api/alarms/{alarm_id}/shelve", "/api/alarms/7/shelve", {"duration_s": 60, "reason": "r"}),
        ("/api/alarms/{alarm_id}/shelve", "/api/alarms/7/shelve", {"duration_s": 60, "reason": "r"}),  # 409
        ("/api/notifications/{notification_id}/acknowledge", "/api/notifications/1/acknowledge", {}),
        ("/api/pages/shown", "/api/pages/shown", {"ids": [1, 2]}),
        ("/api/pages/shown", "/api/pages/shown", {"ids": "1"}),  # 400
        ("/api/pages/{notification_id}/acknowledge", "/api/pages/1/acknowledge", {}),  # 404: not the caller's page
        ("/api/sensors/{sensor_id}/out-of-service", "/api/sensors/gas-n01-cl2/out-of-service", {"reason": "r"}),
        ("/api/incidents/{incident_id}/checklist/{item_id}/done", "/api/incidents/1/checklist/2/done", {}),
        ("/api/incidents/{incident_id}/confirm-level", "/api/incidents/1/confirm-level", {"level": "IV"}),
        ("/api/incidents/{incident_id}/comment", "/api/incidents/1/comment", {}),  # 400
        ("/api/alarms/{alarm_id}/acknowledge", "/api/alarms/7/acknowledge", None),  # 401
    ]
    for path, concrete, body in writes:
        status, answer = await api.call("POST", concrete, "supervisor" if body is not None else None, body)
        _validate(document, path, "post", status, answer)
