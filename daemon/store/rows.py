"""The rows the chain and the notifier queue on the store writer, typed as the tables in ``schema.py`` define them.

An insert row names every column its producer sets; an update names only the columns that change (``total=False``).
The writer adds ``drill`` and ``drill_run_id`` itself.
"""

from __future__ import annotations

from typing import TypedDict

# Every state an outbox row can be in: held (a later channel of a person's chain, not yet released), pending, then one
# end state. daemon.notify.chains moves rows between them; the API schema lists them from here.
# sending: committed before its request goes out; outcome_unknown: cut mid-request by a crash, not sent again
NOTIFICATION_STATES = (
    "held",
    "pending",
    "sending",
    "delivered",
    "acknowledged",
    "failed",
    "given_up",
    "superseded",
    "outcome_unknown",
)


class AlarmRow(TypedDict):
    """A new ``alarms`` row: one episode of an alarm, from its raise to its return to normal."""

    id: int
    alarm_key: str
    rule: str
    sensor_id: str
    device_id: str
    site: str
    zone: str
    kind: str
    priority: str
    state: str
    classification: str
    message: str
    message_zh: str
    value: float | None
    level: float | None
    raised_at: float
    cleared_at: float | None
    updated_at: float
    latched: bool


class AlarmUpdate(TypedDict, total=False):
    """Changed columns of an ``alarms`` row."""

    state: str
    updated_at: float
    value: float | None
    cleared_at: float | None
    acknowledged_at: float
    acknowledged_by: str
    shelved_until: float | None
    latched: bool


class AlarmEventRow(TypedDict):
    """An ``alarm_events`` row: one state transition of an alarm episode."""

    alarm_id: int
    time: float
    from_state: str | None
    to_state: str
    actor: str
    reason: str


class IncidentRow(TypedDict):
    """A new ``incidents`` row."""

    id: int
    key: str
    site: str
    zone: str | None
    title: str
    proposed_tier: str
    confirmed_level: str | None
    state: str
    opened_at: float
    updated_at: float
    detail: str  # JSON


class IncidentUpdate(TypedDict, total=False):
    """Changed columns of an ``incidents`` row."""

    title: str
    proposed_tier: str
    confirmed_level: str | None
    state: str
    zone: str | None
    closed_at: float | None
    closed_by: str | None
    updated_at: float
    detail: str  # JSON


class IncidentEventRow(TypedDict):
    """An ``incident_events`` row: one line of an incident's timeline."""

    incident_id: int
    time: float
    type: str
    actor: str
    detail: str  # JSON
    ref: str


class ChecklistItemRow(TypedDict):
    """A new ``checklist_items`` row."""

    id: int
    incident_id: int
    tier: str
    position: int
    text: str
    due_at: float | None
    done_at: float | None
    done_by: str | None


class ChecklistItemUpdate(TypedDict, total=False):
    """Changed columns of a ``checklist_items`` row."""

    done_at: float | None
    done_by: str | None


class NotificationRow(TypedDict):
    """A new outbox (``notifications``) row: one channel of one recipient of one page or alarm route."""

    idempotency_key: str
    incident_id: int | None
    alarm_id: int | None
    event: str
    channel: str
    recipient: str
    role: str | None
    language: str
    payload: str  # JSON: daemon.notify.payload.RowPayload
    state: str  # pending, or held until the channel before it in a person's chain had its chance
    attempts: int
    next_attempt_at: float
    created_at: float
    drill: bool
    page_id: str | None
    chain_key: str | None
    chain_step: int | None
    step_timeout_s: float | None
    released_at: float | None


class PageLinkRow(TypedDict):
    """A ``page_links`` row: the signed acknowledgement link of one person's page."""

    token_hash: str
    code: str
    page_id: str
    chain_key: str
    person_id: str
    incident_id: int | None
    created_at: float
    expires_at: float
    used_at: float | None
    used_via: str | None
    answer: str | None
    drill: bool


class DeviceStatusRow(TypedDict):
    """A ``device_status`` row: a device's latest online/offline state (upserted by device)."""

    device_id: str
    online: bool
    changed_at: float


class CheckpointRow(TypedDict):
    """A ``checkpoints`` row: the engines' pickled state under a name (upserted by name)."""

    name: str
    time: float
    fingerprint: str
    data: bytes
