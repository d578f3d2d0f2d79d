"""One alarm's ISA-18.2 state: what is stored per alarm and how its displayed state follows from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from rules.model import Classification, Priority


class AlarmState(StrEnum):
    """ISA-18.2 / IEC 62682 alarm states as the duty console shows them."""

    NORMAL = "normal"
    ACTIVE_UNACK = "active_unack"
    ACTIVE_ACKED = "active_acked"
    RETURNED_UNACK = "returned_unack"
    LATCHED_UNACK = "latched_unack"  # returned to normal, latched, not yet acknowledged
    LATCHED_ACKED = "latched_acked"  # returned to normal, latched, acknowledged, waiting for reset
    SHELVED = "shelved"
    SUPPRESSED = "suppressed"  # suppressed by design (depends on another alarm)
    OUT_OF_SERVICE = "out_of_service"


# States in which the alarm is annunciated as active (the plan treats them as "alarm on").
ANNUNCIATED_ACTIVE = frozenset(
    {AlarmState.ACTIVE_UNACK, AlarmState.ACTIVE_ACKED, AlarmState.LATCHED_UNACK, AlarmState.LATCHED_ACKED}
)
SUPPRESSED_STATES = frozenset({AlarmState.SHELVED, AlarmState.SUPPRESSED, AlarmState.OUT_OF_SERVICE})


@dataclass(frozen=True, slots=True)
class AlarmTransition:
    """A state change of one alarm: what the daemon stores (the alarm journal) and shows."""

    alarm_id: str
    rule_id: str
    sensor: int
    sensor_id: str
    condition: str
    priority: Priority
    classification: Classification
    time: float
    from_state: AlarmState
    to_state: AlarmState
    process_active: bool  # the condition itself, regardless of acknowledgement, latching or shelving
    actor: str  # "system" or the person who acted
    reason: str
    value: float
    message_zh: str
    message_en: str
    flood: bool = False  # the alarm system was in flood when this happened

    @property
    def is_annunciation(self) -> bool:
        """The alarm newly demands attention (raised, re-raised or re-alarmed)."""
        return self.to_state is AlarmState.ACTIVE_UNACK and self.from_state is not AlarmState.ACTIVE_UNACK


@dataclass
class Alarm:
    """Everything the lifecycle needs to know about one (rule, sensor) alarm."""

    alarm_id: str
    rule_id: str
    sensor: int
    sensor_id: str
    device: int
    condition: str
    priority: Priority
    classification: Classification
    latching: bool
    shelvable: bool
    realarm_after_s: float | None
    state: AlarmState = AlarmState.NORMAL
    process_active: bool = False
    acked: bool = True
    latched: bool = False
    active_since: float | None = None
    acked_at: float | None = None
    value: float = float("nan")
    message_zh: str = ""
    message_en: str = ""
    shelved_until: float | None = None
    shelved_by: str = ""
    shelve_reason: str = ""
    out_of_service: bool = False
    suppressed_by_design: bool = False
    chatter_hold: bool = False
    clear_since: float | None = None
    flips: list[float] = field(default_factory=list)  # recent on/off times of the condition (chatter window)

    def derived_state(self) -> AlarmState:
        """The state that follows from the flags; suppression outranks annunciation."""
        if self.out_of_service:
            return AlarmState.OUT_OF_SERVICE
        if self.shelved_until is not None:
            return AlarmState.SHELVED
        if self.suppressed_by_design:
            return AlarmState.SUPPRESSED
        if self.process_active or self.chatter_hold:
            return AlarmState.ACTIVE_ACKED if self.acked else AlarmState.ACTIVE_UNACK
        if self.latched:
            return AlarmState.LATCHED_ACKED if self.acked else AlarmState.LATCHED_UNACK
        return AlarmState.NORMAL if self.acked else AlarmState.RETURNED_UNACK

    @property
    def suppressed(self) -> bool:
        """Hidden from the operator by shelving, design or maintenance."""
        return self.out_of_service or self.shelved_until is not None or self.suppressed_by_design
