"""Drill runs side by side: detection delays, time to page and to acknowledge, and each verdict point per run.

How a centre sees whether its response got faster over a year of drills. Reads the reports the runs stored in
``drill_runs.report``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.errors import HazwatchError
from daemon.store.schema import drill_runs


class CompareError(HazwatchError):
    """A run to compare has no stored report."""


async def load_reports(engine: AsyncEngine, run_ids: Sequence[int]) -> list[dict[str, Any]]:
    """The stored report of each run, in the order asked."""
    async with engine.connect() as connection:
        rows = (
            await connection.execute(select(drill_runs.c.id, drill_runs.c.report).where(drill_runs.c.id.in_(run_ids)))
        ).all()
    stored = {int(row.id): row.report for row in rows}
    missing = [str(r) for r in run_ids if not stored.get(r)]
    if missing:
        raise CompareError(f"drill runs without a stored report: {', '.join(missing)}")
    return [json.loads(stored[r]) for r in run_ids]


def _first_page_delay(report: dict[str, Any]) -> float | None:
    alarms = [a["raised_at"] for a in report.get("alarms", [])]
    pages = [n["created_at"] for n in report.get("notifications", [])]
    if not alarms or not pages:
        return None
    return round(float(min(pages)) - float(min(alarms)), 3)


def _first_ack_delay(report: dict[str, Any]) -> float | None:
    acks = [
        n["acknowledged_at"] - n["created_at"]
        for n in report.get("notifications", [])
        if n.get("acknowledged_at") is not None
    ]
    return round(min(acks), 3) if acks else None


def comparison_rows(reports: Sequence[dict[str, Any]]) -> list[list[str]]:
    """One row per measure, one column per run (first row: the run ids)."""

    def text(value: object) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:g}"
        return str(value)

    rows: list[list[str]] = [["drill run", *(str(r["drill_run"]) for r in reports)]]
    rows.append(["scenario", *(text((r.get("ground_truth") or {}).get("scenario")) for r in reports)])
    rows.append(["verdict", *(text((r.get("verdict") or {}).get("overall")) for r in reports)])
    rows.append(["highest tier", *(text(r.get("highest_tier")) for r in reports)])
    rows.append(["alarms", *(str(len(r.get("alarms", []))) for r in reports)])
    rows.append(["first page after first alarm (s)", *(text(_first_page_delay(r)) for r in reports)])
    rows.append(["first acknowledgement after its page (s)", *(text(_first_ack_delay(r)) for r in reports)])
    rows.append(["human actions", *(str(len(r.get("human_actions") or [])) for r in reports)])
    events: list[str] = []
    for report in reports:
        for event in (report.get("score") or {}).get("events", []):
            if event["id"] not in events:
                events.append(event["id"])
    for event_id in events:
        cells = []
        for report in reports:
            found = next((e for e in (report.get("score") or {}).get("events", []) if e["id"] == event_id), None)
            if found is None:
                cells.append("-")
            elif found["detected"]:
                cells.append(text(found["detection_delay_s"]))
            else:  # rain or a sensor fault is not a hazard to detect: "missed" would read as a failure
                cells.append("missed" if found.get("real") else "not a hazard")
        rows.append([f"detection delay (s): {event_id}", *cells])
    points: list[str] = []
    for report in reports:
        for point in (report.get("verdict") or {}).get("points", []):
            if point["expectation"] not in points:
                points.append(point["expectation"])
    for name in points:
        cells = []
        for report in reports:
            found = next((p for p in (report.get("verdict") or {}).get("points", []) if p["expectation"] == name), None)
            cells.append("-" if found is None else f"{found['result']} ({text(found['actual'])})")
        rows.append([f"verdict: {name}", *cells])
    return rows


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows as a plain-text table with aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines) + "\n"
