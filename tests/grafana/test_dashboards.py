"""Structure of every dashboard: valid JSON, the data-source variable everywhere, a clean 24-column grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana import build_dashboards
from tests.grafana.conftest import GRAFANA_DIR
from tests.grafana.dashboard_queries import DASHBOARD_DIR, DASHBOARD_FILES, all_panels, load, panel_queries, variables

GRID_COLUMNS = 24
WALL_ROWS = 30  # 1920x1080 in kiosk mode: about 30 grid rows of 30 px plus margins


def _cells(panel: dict[str, Any]) -> set[tuple[int, int]]:
    g = panel["gridPos"]
    return {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_dashboard_structure(name: str) -> None:
    board = load(name)
    assert board["title"]
    assert board["uid"]
    templating = board["templating"]["list"]
    datasource = [v for v in templating if v["type"] == "datasource"]
    assert [(v["name"], v["query"]) for v in datasource] == [("datasource", "prometheus")]
    panels = list(all_panels(board))
    assert panels, "a dashboard without panels"
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    taken: dict[tuple[int, int], str] = {}
    for panel in panels:
        assert panel.get("title", "").strip(), f"panel {panel['id']} has no title"
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            assert target["expr"].strip(), panel["title"]
        assert panel.get("targets"), f"{panel['title']}: no query"
        g = panel["gridPos"]
        assert min(g["x"], g["y"]) >= 0, panel["title"]
        assert min(g["w"], g["h"]) > 0, panel["title"]
        assert g["x"] + g["w"] <= GRID_COLUMNS, f"{panel['title']} leaves the 24-column grid"
        for cell in _cells(panel):
            assert cell not in taken, f"{panel['title']} overlaps {taken[cell]}"
            taken[cell] = panel["title"]
    for variable in variables(board):
        assert variable["datasource"]["uid"] == "${datasource}", variable["name"]


def test_wall_overview_fits_one_screen_in_dark_theme() -> None:
    board = load("wall-overview.json")
    assert board["style"] == "dark"
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in all_panels(board))
    assert bottom <= WALL_ROWS, f"the wall needs {bottom} rows; it must not scroll at 1920x1080"
    assert not [p for p in all_panels(board) if p["type"] == "row"], "no collapsible rows on the wall"
    types = {p["type"] for p in all_panels(board)}
    assert "geomap" in types


def test_every_dashboard_has_queries() -> None:
    for name in DASHBOARD_FILES:
        assert len(panel_queries(name)) >= 5, name


def test_committed_json_matches_the_generator() -> None:
    for name, board in build_dashboards.build().items():
        assert (DASHBOARD_DIR / name).read_text(encoding="utf-8") == build_dashboards.render(board), (
            f"{name} differs from grafana/boards/: run python -m grafana.build_dashboards and commit the result"
        )


def test_wall_map_is_centred_on_the_site_file(tmp_path: Path) -> None:
    """The geomap's view is the site file's centre and zoom, not a hard-coded demo location."""
    site = tmp_path / "site.yaml"
    site.write_text("site: other\ncenter: {lat: 22.5, lon: 113.9}\nzoom: 11\n", encoding="utf-8")
    board = build_dashboards.build(site)["wall-overview.json"]
    (geomap,) = [p for p in all_panels(board) if p["type"] == "geomap"]
    view = geomap["options"]["view"]
    assert (view["lat"], view["lon"], view["zoom"]) == (22.5, 113.9, 11.0)


def test_provisioning_points_grafana_at_the_dashboards_and_prometheus() -> None:
    provisioning = GRAFANA_DIR / "provisioning"
    dashboards = yaml.safe_load((provisioning / "dashboards" / "hazwatch.yaml").read_text())
    assert dashboards["apiVersion"] == 1
    (provider,) = dashboards["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"]
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"]
