"""The shared pieces every config model and fixed list builds on: strict pydantic bases and ranked enums.

Lives in ``rules/`` because it is the lowest package that reads config files; ``plans/`` and ``daemon/`` import it.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Base for mutable config models: unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class FrozenModel(BaseModel):
    """Base for immutable config models (sites, rules, plans, rosters, scenarios): unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RankedEnum(StrEnum):
    """A string enum whose declaration order is its severity order, lowest first."""

    @property
    def rank(self) -> int:
        """0 for the first (lowest) member, counting up."""
        return list(type(self)).index(self)
