"""What the alarm chain and its recorder carry between batches, checkpointed as one unit with the detectors."""

from __future__ import annotations

from dataclasses import dataclass, field

from plans.engine import IncidentEngine
from rules.book import AlarmBook
from rules.engine import RuleEngine


@dataclass
class Episode:
    """The stored row of an alarm between its raise and its return to normal."""

    row_id: int
    priority: str
    cleared: bool = False


@dataclass
class FlowState:
    """Everything that must survive a restart besides the detectors: it is checkpointed as one unit.

    The engines, ``conditions_on`` and ``levels_on`` are the chain's; ``episodes``, ``incident_rows`` and
    ``checklist_rows`` are the recorder's (which stored row each alarm episode, incident and checklist item is).
    The field order stays as it was when this lived in ``alarm_flow.py`` (``checkpoint.MOVED`` finds it here), so
    older checkpoints still load.
    """

    rules: RuleEngine
    book: AlarmBook
    incidents: IncidentEngine
    episodes: dict[str, Episode] = field(default_factory=dict)
    conditions_on: dict[tuple[str, int], float] = field(default_factory=dict)  # (condition, sensor) -> value
    levels_on: dict[tuple[str, int], float] = field(default_factory=dict)  # (condition, sensor) -> level crossed
    incident_rows: dict[str, int] = field(default_factory=dict)
    checklist_rows: dict[tuple[str, str], int] = field(default_factory=dict)

    def alarm_key(self, row_id: int) -> str | None:
        """The alarm book's key of the live episode stored as alarm row ``row_id`` (None: not live here)."""
        return next((key for key, episode in self.episodes.items() if episode.row_id == row_id), None)

    def incident_key(self, row_id: int) -> str | None:
        """The incident engine's key of incident row ``row_id`` (None: not live here)."""
        return next((key for key, row in self.incident_rows.items() if row == row_id), None)
