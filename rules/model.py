"""The rule file model: which sensors, which condition, how loud, what to say."""

from __future__ import annotations

import string
from enum import StrEnum
from typing import Self

from pydantic import Field, field_validator, model_validator

from detectors.kinds import Kind
from rules import condition_names
from rules.site import DeviceType, ZoneType
from rules.strict import FrozenModel, RankedEnum

# Placeholders a message template may use; the engine fills them per alarm.
MESSAGE_FIELDS = frozenset(
    {"sensor", "device", "zone", "site", "value", "level", "unit", "substance", "nuclide", "category", "rule"}
)


class Priority(RankedEnum):
    """ISA-18.2 alarm priority, lowest first."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


# The priorities as stored and labelled (lowest first); a stored priority -> its rank, for rows that carry it as text.
PRIORITIES: tuple[str, ...] = tuple(priority.value for priority in Priority)
PRIORITY_RANK: dict[str, int] = {priority.value: priority.rank for priority in Priority}


class Classification(StrEnum):
    """What an alarm means to the duty officer; plans select on it."""

    NATURAL = "natural"  # explained by nature (rain washout of radon progeny)
    SUSPICIOUS = "suspicious"  # unexplained, needs a person to look
    HAZARD = "hazard"  # a measured hazard to people
    SECURITY = "security"  # a source out of control: missing, tamper, geofence
    EQUIPMENT = "equipment"  # power, battery, detector faults
    QUALITY = "quality"  # data cannot be trusted


class Selector(FrozenModel):
    """Which sensors a rule applies to. Fields combine with AND, list items with OR; an empty selector matches all."""

    site: list[str] | None = Field(None, description="Site ids.")
    kind: list[Kind] | None = Field(None, description="Measurement kinds.")
    zone: list[str] | None = Field(None, description="Zone ids.")
    zone_type: list[ZoneType] | None = Field(None, description="Zone types (boundary, plant, ...).")
    device_type: list[DeviceType] | None = Field(None, description="Device types.")
    device: list[str] | None = Field(None, description="Device ids.")
    sensor: list[str] | None = Field(None, description="Sensor ids.")
    substance: list[str] | None = Field(None, description="Gas formulas (Cl2, HF, ...).")
    source_category: list[int] | None = Field(
        None, description="Sealed-source categories 1-5 (I-V) of the device's source."
    )

    @field_validator("source_category")
    @classmethod
    def _categories(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(not 1 <= c <= 5 for c in value):
            raise ValueError("source categories are 1-5 (I-V)")
        return value


class LevelParams(FrozenModel):
    """Parameters of the ``level`` condition: one comparison with a deadband."""

    above: float | None = Field(None, description="Active when the reading is at or above this level.")
    below: float | None = Field(None, description="Active when the reading is at or below this level.")
    deadband: float = Field(0.0, ge=0, description="Clears only this far on the safe side of the level.")

    @model_validator(mode="after")
    def _one_side(self) -> Self:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of `above` or `below`")
        return self


class ConditionSpec(FrozenModel):
    """The named condition that raises the alarm."""

    name: str = Field(description="A detector condition (e.g. `gas.aegl2_10min`) or `level`.")
    params: LevelParams | None = Field(None, description="Only for `level`: the level and deadband.")

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in condition_names.KNOWN:
            raise ValueError(f"unknown condition {value!r}")
        return value

    @model_validator(mode="after")
    def _params(self) -> Self:
        if (self.name == condition_names.LEVEL) != (self.params is not None):
            raise ValueError("`params` is required for `level` and not allowed for other conditions")
        return self


class Message(FrozenModel):
    """The alarm text in both languages; ``{sensor}``, ``{value}``, ``{level}``, ``{unit}``... are filled in."""

    zh: str = Field(description="Chinese text.")
    en: str = Field(description="English text.")

    @field_validator("zh", "en")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        unknown = names - MESSAGE_FIELDS
        if unknown:
            raise ValueError(f"unknown placeholders {sorted(unknown)}; allowed: {sorted(MESSAGE_FIELDS)}")
        return value


class Rule(FrozenModel):
    """One alarm rule."""

    id: str = Field(description="Unique rule id.", pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = Field("", description="Why the rule exists; cite the source of its values.")
    selector: Selector = Field(default_factory=Selector, description="Which sensors the rule watches.")
    condition: ConditionSpec = Field(description="What raises the alarm.")
    priority: Priority = Field(description="ISA-18.2 priority.")
    classification: Classification = Field(description="What the alarm means.")
    message: Message = Field(description="Alarm text.")
    on_delay_s: float = Field(0.0, ge=0, description="Seconds the condition must hold before the alarm is raised.")
    off_delay_s: float = Field(0.0, ge=0, description="Seconds the condition must stay clear before it returns.")
    latching: bool = Field(False, description="Stays annunciated after return to normal until a person resets it.")
    realarm_after_s: float | None = Field(
        None, gt=0, description="Re-annunciate when acknowledged but still active this long (stale-alarm guard)."
    )
    shelvable: bool = Field(True, description="Whether operators may shelve it (false for safety-critical alarms).")


class RuleFile(FrozenModel):
    """A rule file: a list of rules."""

    rules: list[Rule] = Field(description="The rules in this file.")

    @model_validator(mode="after")
    def _unique(self) -> Self:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"duplicate rule id {rule.id!r}")
            seen.add(rule.id)
        return self
