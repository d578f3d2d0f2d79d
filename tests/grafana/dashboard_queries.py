"""Read dashboards the way Grafana does: every panel, every query, every template variable."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tests.grafana.conftest import GRAFANA_DIR

DASHBOARD_DIR = GRAFANA_DIR / "dashboards"
DASHBOARD_FILES = ("wall-overview.json", "radiation.json", "toxic-gas.json", "data-quality.json")

# What Grafana puts in for its built-in variables, sized for a Prometheus scraping every second.
BUILTINS = {"__rate_interval": "10s", "__interval": "2s", "__range": "1m", "__range_s": "60", "__interval_ms": "2000"}

LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<match>.+?)\s*,\s*)?(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$")


@dataclass(frozen=True)
class PanelQuery:
    """One query of one panel."""

    dashboard: str
    panel_title: str
    repeat: str | None
    expr: str


def load(name: str) -> dict[str, Any]:
    """Parse one dashboard file."""
    board: dict[str, Any] = json.loads((DASHBOARD_DIR / name).read_text(encoding="utf-8"))
    return board


def all_panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those collapsed inside rows."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def panel_queries(name: str) -> list[PanelQuery]:
    """Every Prometheus expression of every panel of a dashboard."""
    board = load(name)
    return [
        PanelQuery(name, panel["title"], panel.get("repeat"), target["expr"])
        for panel in all_panels(board)
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def variables(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Template variables other than the data source."""
    return [v for v in board.get("templating", {}).get("list", []) if v["type"] != "datasource"]


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace $name, ${name} and [[name]] the way Grafana does, longest names first."""
    for name in sorted(values, key=len, reverse=True):
        value = values[name]
        expr = expr.replace("${" + name + "}", value).replace("[[" + name + "]]", value)
        expr = re.sub(r"\$" + re.escape(name) + r"(?![A-Za-z0-9_])", lambda _m, v=value: v, expr)  # type: ignore[misc]  # default binds the loop value
    return expr


LabelValues = Callable[[str | None, str], Awaitable[list[str]]]


async def resolve_variables(board: dict[str, Any], label_values: LabelValues) -> dict[str, list[str]]:
    """Every query variable's options, via ``label_values(match, label)`` against the real Prometheus."""
    options: dict[str, list[str]] = {}
    for variable in variables(board):
        query = variable["query"] if isinstance(variable["query"], str) else variable["query"]["query"]
        found = LABEL_VALUES.match(substitute(query, {k: v[0] for k, v in options.items()}))
        assert found, f"{board['title']}: variable {variable['name']} is not a label_values() query: {query}"
        options[variable["name"]] = await label_values(found["match"], found["label"])
    return options


def grafana_value(variable: dict[str, Any], options: list[str], *, repeated: bool) -> str:
    """The text Grafana puts in a query: one value in a repeated panel, else "All" (allValue or a regex of all)."""
    if repeated or not variable.get("includeAll"):
        return options[0]
    if variable.get("allValue"):
        return str(variable["allValue"])
    return "(" + "|".join(re.escape(o) for o in options) + ")"
