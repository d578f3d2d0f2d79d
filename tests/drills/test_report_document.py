"""The drill report is a document a centre files: it opens in a browser with its title block, verdict, people and
plots, and prints to an A4 PDF through Chromium with the title block and the verdict in it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import async_playwright
from pypdf import PdfReader

from daemon.drills.report_html import ReportMeta, _Clock, render_html, sensor_panel
from daemon.drills.report_map import map_svg
from daemon.drills.report_pdf import print_pdf
from tests.drills.conftest import replay_and_report
from tests.drills.test_faithful_replay import _theft

META = ReportMeta(
    exercise="2024 source-theft exercise",
    organiser="City environmental emergency centre",
    timezone="Asia/Shanghai",
)


@pytest.fixture(scope="module")
def theft_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The short theft replayed once for this module."""
    folder = tmp_path_factory.mktemp("report-document")
    recording = _theft(folder, columnar=True)
    return asyncio.run(replay_and_report(recording, f"sqlite:///{folder / 'drill.db'}"))


@pytest.fixture
def page_file(theft_report: dict[str, Any], tmp_path: Path) -> Path:
    """The report rendered to an HTML file."""
    path = tmp_path / "report.html"
    path.write_text(render_html(theft_report, META), encoding="utf-8")
    return path


def test_the_page_shows_no_raw_data_structures_or_address_placeholders(page_file: Path) -> None:
    text = page_file.read_text(encoding="utf-8")
    assert "${HAZWATCH_" not in text
    assert "{'" not in text  # no Python dict printed
    assert "Asia/Shanghai (UTC+08:00)" in text  # the site's zone, stated with the date
    assert "2024-03-08" in text


@pytest.mark.browser
@pytest.mark.slow  # a real Chromium: about 1.5 CPU-s a start
async def test_the_report_opens_in_a_browser_with_title_block_verdict_people_and_plots(
    page_file: Path, theft_report: dict[str, Any]
) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(page_file.as_uri())
            title_block = await page.inner_text("table.titleblock")
            assert "2024 source-theft exercise" in title_block
            assert "City environmental emergency centre" in title_block
            assert "2024-03-08 22:00:00" in title_block  # local time (UTC+8) with the date
            verdict = await page.inner_text(".verdict")
            assert theft_report["verdict"]["overall"] in verdict
            body = await page.inner_text("body")
            # Verdict first: it comes before the people and the plots.
            assert body.index("Verdict") < body.index("Who did what") < body.index("Measurements")
            # Pages name their recipient and role, not a channel address.
            assert "李娜" in body
            assert "duty officer" in body
            # One plot per key sensor, with its unit, alarm levels and a legend, inline (no network).
            panels = page.locator(".panel svg")
            assert await panels.count() >= 1
            first = await panels.first.inner_html()
            assert "nSv/h" in first
            assert "alarm active" in first  # the legend
            assert await page.locator("table.signoff").count() == 1
            assert errors == []
        finally:
            await browser.close()


@pytest.mark.browser
@pytest.mark.slow  # a real Chromium: about 1.5 CPU-s a start
def test_the_pdf_has_the_title_block_and_the_verdict(page_file: Path, theft_report: dict[str, Any]) -> None:
    pdf = print_pdf(page_file, page_file.with_suffix(".pdf"))
    reader = PdfReader(pdf)
    box = reader.pages[0].mediabox
    assert abs(float(box.width) - 595) < 3  # A4 in points
    assert abs(float(box.height) - 842) < 3
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "2024 source-theft exercise" in text
    assert "City environmental emergency centre" in text
    assert "Verdict" in text
    assert theft_report["verdict"]["overall"] in text
    assert "Approved (centre director)" in text
    # The Chinese headings and names are real text in an embedded font on any machine (this one has no CJK system
    # font: without the record's own font they printed as empty boxes, with no text behind them).
    packed = "".join(text.split())
    assert "演练结论" in packed
    assert "李娜" in packed


def test_a_plot_draws_alarm_levels_as_lines_shades_alarm_periods_and_bands_the_tier() -> None:
    report: dict[str, Any] = {
        "replay": {"sim_start": 1717376400.0, "sim_end": 1717380000.0},
        "alarms": [
            {"sensor": "gas-n02-cl2", "raised_at": 1717377000.0, "cleared_at": 1717378000.0, "priority": "high",
             "rule": "gas-aegl2-10min"},
        ],
        "incidents": [
            {"tier_history": [{"time": 1717377001.0, "tier": "orange"}], "closed_at": None},
        ],
        "signal_meta": {
            "gas-n02-cl2": {"kind": "gas", "unit": "ppm", "levels": [{"name": "AEGL-2 10 min", "value": 2.8}]}
        },
    }  # fmt: skip
    points = [[1717376400.0 + 60 * i, 0.1 * i] for i in range(60)]
    svg = sensor_panel(report, "gas-n02-cl2", points, _Clock(ZoneInfo("Asia/Shanghai")))
    assert "ppm" in svg
    assert 'stroke-dasharray="5,3"' in svg  # the level line
    assert "AEGL-2 10 min 2.8" in svg  # ... named in the legend
    assert 'fill-opacity="0.15"' in svg  # the shaded alarm period
    assert 'fill="#e16f24"' in svg  # the orange tier band
    assert "09:00" in svg  # local time ticks (UTC+8)
    assert "2024-06-03 Asia/Shanghai (UTC+08:00)" in svg


def test_the_map_snapshot_draws_every_device_and_colours_the_ones_that_alarmed(theft_report: dict[str, Any]) -> None:
    layers = theft_report["map"]
    assert len(layers["devices"]) >= 10
    assert layers["outlines"]
    svg = map_svg(theft_report)
    assert svg.count("<circle") == len(layers["devices"])
    alarmed = {a["sensor"] for a in theft_report["alarms"]}
    coloured = [d for d in layers["devices"] if set(d["sensors"]) & alarmed]
    assert coloured, "the theft raised alarms on the camera's monitor"
    for device in coloured:  # labelled on the map by name
        assert f">{device['name']}</text>" in svg
    assert "No threat zone was estimated" in svg  # a theft releases no gas
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched at view time


def test_the_map_draws_threat_zones_nested_in_level_order_and_the_source_estimate() -> None:
    square = [[-100.0, -100.0], [100.0, -100.0], [100.0, 100.0], [-100.0, 100.0], [-100.0, -100.0]]
    report: dict[str, Any] = {
        "replay": {"sim_start": 1000.0},
        "alarms": [{"sensor": "gas-n02-cl2", "priority": "urgent"}, {"sensor": "gas-n02-cl2", "priority": "low"}],
        "ground_truth": {"events": [{"id": "leak", "location": {"east_m": 5.0, "north_m": 5.0}}]},
        "map": {
            "outlines": [{"layer": "plant", "name": "plant", "points": square}],
            "devices": [
                {"id": "gas-n02", "name": "North 2", "sensors": ["gas-n02-cl2"], "at": [0.0, 300.0]},
                {"id": "gas-s01", "name": "South 1", "sensors": ["gas-s01-cl2"], "at": [0.0, -300.0]},
            ],
            "threat": [{
                "gas": "Cl2", "time": 1600.0, "source": [0.0, 0.0],
                "zones": [
                    {"level": "AEGL-3", "certainty": "expected", "rings": [square]},
                    {"level": "AEGL-1", "certainty": "possible", "rings": [[[x * 3, y * 3] for x, y in square]]},
                ],
            }],
        },
    }  # fmt: skip
    svg = map_svg(report)
    # The wide possible AEGL-1 zone is drawn before (under) the expected AEGL-3 zone, dashed and unfilled.
    assert svg.index("Cl2 AEGL-1 (possible)") < svg.index("Cl2 AEGL-3 (expected)")
    assert 'fill="#cf222e" fill-opacity="0.28"' in svg
    assert 'stroke="#d4a72c" stroke-width="1.2" stroke-dasharray="5 3"' in svg
    assert "Cl2 source estimate" in svg
    assert "true release leak" in svg
    assert 'fill="#cf222e" stroke="#1f2328"' in svg  # North 2 in its worst (urgent) colour, not low
    assert ">North 2</text>" in svg
    assert ">South 1</text>" not in svg
    assert "Cl2 as estimated at T+10 min" in svg
