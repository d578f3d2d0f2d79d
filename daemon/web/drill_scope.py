"""Which rows a view shows: the live picture (no drill rows) or exactly one drill run."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table

from daemon.web.api.errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class DrillScope:
    """``run_id`` None: live rows only; otherwise the rows of that drill run only. Live and drill never mix."""

    run_id: int | None = None

    @property
    def live(self) -> bool:
        """Whether this is the live picture."""
        return self.run_id is None

    def where(self, table: Table) -> ColumnElement[bool]:
        """The filter for a table with ``drill`` and ``drill_run_id`` columns."""
        if self.run_id is None:
            return table.c.drill.is_(False)
        return table.c.drill_run_id == self.run_id


def parse_drill_scope(raw: str | None) -> DrillScope:
    """``?drill_run=<id>`` selects one drill run; absent means live."""
    if raw is None or raw == "":
        return DrillScope()
    if not raw.isdigit():
        raise InvalidRequest(f"drill_run must be a drill run id (an integer), got {raw!r}")
    return DrillScope(int(raw))
