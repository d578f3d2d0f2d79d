"""Id ranges for the rows the service numbers itself (alarms, incidents, checklist items).

The alarm flow assigns these ids when it queues a row, long before the row is committed, so the ids cannot come
from the database one by one. Instead every writer numbers its rows inside a range nobody else uses: the live
service takes ``1 .. RUN_SPAN - 1``; drill run ``r`` (its ``drill_runs.id``, assigned by the database, so two
replays never share one) takes ``r * RUN_SPAN + 1 .. (r + 1) * RUN_SPAN - 1``. A replay can therefore write into
the database a running service uses without either producing an id the other will also produce. Ids stay below
2**53, so the duty console's JavaScript reads them exactly. Read ``3000000042`` as "drill run 3, row 42".
"""

from __future__ import annotations

from dataclasses import dataclass

from daemon.errors import HazwatchError

RUN_SPAN = 1_000_000_000


class IdRangeExhaustedError(HazwatchError):
    """A writer used every id of its range (a billion rows of one table: far beyond any real run)."""


@dataclass(frozen=True, slots=True)
class IdRange:
    """The inclusive id range one writer numbers its rows in."""

    first: int
    last: int

    @property
    def bounds(self) -> tuple[int, int]:
        """``(first, last)``, for ``BETWEEN``."""
        return self.first, self.last

    @classmethod
    def live(cls) -> IdRange:
        """The live service's range."""
        return cls(1, RUN_SPAN - 1)

    @classmethod
    def drill_run(cls, run_id: int) -> IdRange:
        """The range of one drill run."""
        if run_id < 1:
            raise ValueError(f"drill run ids start at 1, got {run_id}")
        return cls(run_id * RUN_SPAN + 1, (run_id + 1) * RUN_SPAN - 1)


class RowIds:
    """Hands out the next id of one table within a range."""

    def __init__(self, table: str, next_id: int, id_range: IdRange) -> None:
        self._table = table
        self._next = max(next_id, id_range.first)
        self._range = id_range

    def take(self) -> int:
        """The next unused id."""
        row_id = self._next
        if row_id > self._range.last:
            raise IdRangeExhaustedError(f"no {self._table} ids left in {self._range.first}..{self._range.last}")
        self._next += 1
        return row_id

    def skip_to(self, next_id: int) -> None:
        """Never hand out an id below ``next_id`` (ids another instance stored: HA takeover)."""
        self._next = max(self._next, next_id)
