"""Incident rows for the console: titles, zones and kinds, and every deadline the duty officer must meet."""

from __future__ import annotations

import json
from typing import Any


def _json(text: str | None) -> Any:
    try:
        return json.loads(text or "{}")
    except json.JSONDecodeError:
        return {"raw": text}


def deadlines(detail: dict[str, Any]) -> list[dict[str, Any]]:
    """The incident's deadlines, soonest first: the open page's acknowledgement/escalation and each report owed.

    The incident engine stores them in ``detail.escalation`` and ``detail.reports[]`` (daemon/chain/alarm_chain.py).
    """
    out: list[dict[str, Any]] = []
    escalation = detail.get("escalation")
    if isinstance(escalation, dict) and isinstance(escalation.get("due_at"), int | float):
        role = escalation.get("next_role")
        out.append(
            {
                "kind": "acknowledge",
                "name": "确认时限 / acknowledge by" + (f" (then {role})" if role else ""),
                "due_at": float(escalation["due_at"]),
                "next_role": role,
                "done_at": None,
            }
        )
    for report in detail.get("reports") or []:
        if isinstance(report, dict) and isinstance(report.get("due_at"), int | float):
            out.append(
                {
                    "kind": "report",
                    "id": report.get("id"),
                    "name": str(report.get("name", report.get("id", "report"))),
                    "to": report.get("to"),
                    "role": report.get("role"),
                    "due_at": float(report["due_at"]),
                    "done_at": report.get("sent_at"),
                }
            )
    for legacy in detail.get("deadlines") or []:  # rows written before the engine stored reports
        if isinstance(legacy, dict) and isinstance(legacy.get("due_at"), int | float):
            out.append({"kind": "report", "name": str(legacy.get("name", "")), "due_at": float(legacy["due_at"]),
                        "done_at": None})  # fmt: skip
    out.sort(key=lambda d: d["due_at"])
    return out


def incident_row(row: dict[str, Any]) -> dict[str, Any]:
    """An incident row with its JSON detail parsed and its deadlines, zones and kinds lifted out."""
    row = dict(row)
    detail = _json(row.get("detail"))
    row["detail"] = detail
    if not isinstance(detail, dict):
        detail = {}
    row["deadlines"] = deadlines(detail)
    zones = detail.get("zones") or ([row["zone"]] if row.get("zone") else [])
    row["zones"] = list(zones)
    row["kinds"] = list(detail.get("kinds") or [])
    row["triggers"] = list(detail.get("triggers") or [])
    return row
