"""The console's read side on a real SQLite file: the alarm board, deadlines, drill scopes, map layers, roster."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.config import MapConfig, TileSource
from daemon.store.schema import alarm_events, alarms, incidents
from daemon.web.alarm_board import needs_action
from daemon.web.api.reads import list_incidents, site_view
from daemon.web.drill_scope import DrillScope, parse_drill_scope
from daemon.web.duty_roster import on_duty_now
from daemon.web.incident_view import deadlines, incident_row
from daemon.web.map_layers import map_settings, site_geojson
from daemon.web.sensor_history import thin
from plans.loading import DEFAULT_ROSTER, load_roster
from rules.sensor_table import SensorTable
from rules.site import MapFeature, Site

T0 = 1_800_000_000.0


def _alarm(id_: int, state: str, priority: str, raised_at: float, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": id_, "rule": "cl2-level2", "sensor_id": "gas-n01-cl2", "device_id": "gas-n01", "site": "demo-park",
        "zone": "boundary-north", "kind": "gas", "priority": priority, "state": state, "message": f"alarm {id_}",
        "value": 2.0, "level": 0.69, "raised_at": raised_at, "updated_at": raised_at, "drill": False,
        "cleared_at": None, "latched": False, "shelved_until": None, "drill_run_id": None,
    }  # fmt: skip
    # one executemany takes its columns from the first row: every row names every column
    row.update(extra)
    return row


async def test_board_lists_every_alarm_needing_action_by_priority_then_newest(
    engine: AsyncEngine, demo_site: Site
) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            insert(alarms),
            [
                _alarm(1, "active_unack", "medium", T0),
                _alarm(2, "returned_unack", "high", T0 + 10, cleared_at=T0 + 20),
                _alarm(3, "latched_acked", "urgent", T0 - 100, latched=True),
                _alarm(4, "shelved", "high", T0 + 30, shelved_until=T0 + 3600),
                _alarm(5, "normal", "urgent", T0 + 40),  # over: not on the board
                _alarm(6, "active_acked", "low", T0 + 50),
                _alarm(7, "active_unack", "urgent", T0 + 60, drill=True, drill_run_id=3),  # a drill's
            ],
        )
        # alarm 1 returned and came back before anyone acknowledged: raised again at T0 + 90
        await connection.execute(
            insert(alarm_events),
            [
                {"alarm_id": 1, "time": T0, "from_state": None, "to_state": "active_unack", "actor": "system"},
                {"alarm_id": 1, "time": T0 + 80, "from_state": "active_unack", "to_state": "returned_unack",
                 "actor": "system"},
                {"alarm_id": 1, "time": T0 + 90, "from_state": "returned_unack", "to_state": "active_unack",
                 "actor": "system"},
            ],
        )  # fmt: skip
    table = SensorTable.build(demo_site)
    board = await needs_action(engine, table, DrillScope())
    assert [r["id"] for r in board] == [3, 4, 2, 1, 6]
    by_id = {r["id"]: r for r in board}
    assert by_id[3]["actions"] == ["reset"]
    assert by_id[4]["actions"] == ["unshelve"]
    assert by_id[2]["actions"] == ["acknowledge"]
    assert by_id[6]["actions"] == []
    assert by_id[1]["reraised_at"] == T0 + 90
    assert by_id[2]["reraised_at"] is None
    assert by_id[1]["unit"] == "ppm"
    assert by_id[1]["device_name"].startswith("北边界气体 N1")
    assert by_id[1]["zone_name"] == "North boundary (river side)"
    drill = await needs_action(engine, table, DrillScope(3))
    assert [r["id"] for r in drill] == [7]

    # The live map is painted by live alarms only; the drill's view by the drill's only.
    live_site = await site_view(engine, table, None, T0)
    state = {s["id"]: s["state"] for s in live_site["sensors"]}
    assert state["gas-n01-cl2"] == "alarm"
    assert state["gas-s01-nh3"] == "no_data"


async def test_incidents_are_live_or_one_drill_run_and_carry_their_deadlines(engine: AsyncEngine) -> None:
    detail = {
        "zones": ["boundary-north", "plant-chlor-alkali"],
        "kinds": ["gas", "tamper"],
        "escalation": {"due_at": T0 + 600, "next_role": "shift_leader"},
        "reports": [
            {"id": "initial-report", "name": "初报 / initial report", "to": "city", "role": "duty_officer",
             "due_at": T0 + 3600, "sent_at": None},
            {"id": "follow-up", "name": "续报 / follow-up report", "to": "city", "role": "duty_officer",
             "due_at": T0 + 7200, "sent_at": T0 + 5000},
        ],
    }  # fmt: skip
    common = {"site": "demo-park", "proposed_tier": "blue", "state": "open", "opened_at": T0, "updated_at": T0}
    async with engine.begin() as connection:
        await connection.execute(
            insert(incidents),
            [
                {
                    "id": 1,
                    "key": "a",
                    "title": "live",
                    "detail": json.dumps(detail),
                    "drill": False,
                    "drill_run_id": None,
                    **common,
                },
                {"id": 2, "key": "b", "title": "drill", "detail": "{}", "drill": True, "drill_run_id": 4, **common},
            ],
        )
    live = await list_incidents(engine, open_only=False, limit=10)
    assert [i["title"] for i in live] == ["live"]
    assert [i["title"] for i in await list_incidents(engine, open_only=False, limit=10, scope=DrillScope(4))] == [
        "drill"
    ]
    row = live[0]
    assert row["zones"] == ["boundary-north", "plant-chlor-alkali"]
    assert row["kinds"] == ["gas", "tamper"]
    assert [(d["kind"], d["due_at"], d["done_at"]) for d in row["deadlines"]] == [
        ("acknowledge", T0 + 600, None),
        ("report", T0 + 3600, None),
        ("report", T0 + 7200, T0 + 5000),
    ]
    assert row["deadlines"][0]["next_role"] == "shift_leader"


def test_deadlines_tolerate_old_and_broken_details() -> None:
    assert deadlines({}) == []
    assert deadlines({"reports": [{"name": "x"}], "escalation": None}) == []
    assert deadlines({"deadlines": [{"name": "初报", "due_at": 5}]})[0]["due_at"] == 5.0
    assert incident_row({"detail": "not json", "zone": "z"})["zones"] == ["z"]


def test_drill_scope_parameter() -> None:
    assert parse_drill_scope(None).live
    assert parse_drill_scope("12").run_id == 12
    with pytest.raises(Exception, match="drill_run must be"):
        parse_drill_scope("12; drop table")


def test_thinning_keeps_the_shape_in_at_most_max_points() -> None:
    times = np.arange(10_000, dtype=np.float64)
    values = np.where(times < 5000, 1.0, 3.0)
    t, v = thin(times, values, 100)
    assert len(t) == len(v) == 100
    assert v[0] == 1.0
    assert v[-1] == 3.0
    assert thin(times[:10], values[:10], 100)[0] == list(range(10))


def test_site_layers_are_geojson_and_feature_shapes_are_checked(demo_site: Site) -> None:
    layers = site_geojson(demo_site)
    kinds = {f["properties"]["layer"]: f["geometry"]["type"] for f in layers["features"]}
    assert kinds == {
        "zone": "Polygon", "plant": "Polygon", "road": "LineString", "river": "LineString",
        "residential": "Polygon", "school": "Polygon", "hospital": "Polygon", "nursing_home": "Polygon",
        "workplace": "Polygon",
    }  # fmt: skip
    ring = next(f for f in layers["features"] if f["geometry"]["type"] == "Polygon")["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1]  # RFC 7946: a closed ring
    assert -180 <= ring[0][0] <= 180  # lon first
    # Populated places come from the one list the release assessment reads, with their population.
    drawn = {f["id"]: f["properties"] for f in layers["features"] if f["properties"]["receptor"]}
    assert drawn == {
        r.id: {"name": r.name, "layer": r.type.value, "zone": None, "receptor": True, "population": r.population}
        for r in demo_site.receptors
    }
    with pytest.raises(ValidationError, match="populated places are `receptors:` now"):
        MapFeature(id="s", name="s", layer="school", points=[{"lat": 1, "lon": 1}])
    with pytest.raises(ValidationError, match="a road needs at least 2 positions"):
        MapFeature(id="r", name="r", layer="road", points=[{"lat": 1, "lon": 1}])
    settings = map_settings(demo_site, MapConfig(tiles=[TileSource(name="osm", url="http://t/{z}/{x}/{y}.png")]))
    assert settings["zoom"] == demo_site.zoom
    assert settings["tiles"][0]["url"] == "http://t/{z}/{x}/{y}.png"


def test_roster_shows_who_is_on_duty_and_never_a_placeholder() -> None:
    roster = load_roster(DEFAULT_ROSTER)
    night = 1_796_184_000.0  # 2026-12-02 04:00 UTC = 12:00 in China: zhang-wei's day shift
    roles = {r["role"]: r for r in on_duty_now(roster, night, {"HAZWATCH_PHONE_ZHANG_WEI": "+86 138 0000 0000"})}
    (person,) = roles["duty_officer"]["people"]
    assert person["name"] == "张伟"
    assert person["channels"][0] == {"type": "phone", "address": "+86 138 0000 0000"}
    assert person["channels"][1] == {"type": "sms", "address": "+86 138 0000 0000"}
    assert person["channels"][2] == {"type": "wecom_user", "address": ""}  # not configured: no "${...}" shown
