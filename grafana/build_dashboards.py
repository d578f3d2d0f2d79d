"""Writes the Grafana dashboards in grafana/dashboards/ (run: ``python -m grafana.build_dashboards``).

The JSON files are what Grafana loads; ``grafana/boards/`` is their source, written in the vocabulary of
``grafana/panels.py``. A test checks that the committed JSON equals this script's output.

Why not grafana-foundation-sdk: its typed builders were evaluated (10.1 release) against this generator. A panel
there is a chain of a dozen builder calls where ours is one call of the vocabulary, so the dashboards got longer,
not shorter, and the SDK pins the JSON schema to one Grafana release. The vocabulary stays; every panel query is
still run against a real Prometheus by tests/grafana.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

from grafana.boards.data_quality import data_quality
from grafana.boards.radiation import radiation
from grafana.boards.toxic_gas import toxic_gas
from grafana.boards.wall import wall_overview

HERE = Path(__file__).resolve().parent
DASHBOARDS = HERE / "dashboards"
DEMO_SITE = HERE.parent / "daemon" / "sites" / "demo-park.yaml"


def build(site_file: Path = DEMO_SITE) -> dict[str, dict[str, Any]]:
    """Every dashboard by file name; the wall map takes its centre and zoom from the site file."""
    site = yaml.safe_load(site_file.read_text(encoding="utf-8"))
    center = (float(site["center"]["lat"]), float(site["center"]["lon"]))
    zoom = float(site.get("zoom", 14))  # rules/site.py's default
    return {
        "wall-overview.json": wall_overview(center, zoom),
        "radiation.json": radiation(),
        "toxic-gas.json": toxic_gas(),
        "data-quality.json": data_quality(),
    }


def render(board: dict[str, Any]) -> str:
    """The exact text written to disk."""
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    """Write the dashboards (``--site FILE``: centre the wall map on another site; default the demo park)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--site", type=Path, default=DEMO_SITE, help="site file whose centre and zoom the map uses")
    args = parser.parse_args()
    DASHBOARDS.mkdir(exist_ok=True)
    for name, board in build(args.site).items():
        (DASHBOARDS / name).write_text(render(board), encoding="utf-8")


if __name__ == "__main__":
    main()
