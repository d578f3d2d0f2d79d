"""Who may do what to a station-day under review, tier by tier. Pure: the store applies what this allows.

A station-day starts at tier 1 (station reviewer), who marks readings and submits it; the centre
reviewer (tier 2) marks, approves it up or returns it down; the bureau reviewer (tier 3) approves
it for good or returns it. Marks never change stored readings: they are audited rows that decide
which readings count as valid after review.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

REVIEW_ROLES = ("reviewer_station", "reviewer_centre", "reviewer_bureau")  # tier 1, 2, 3
IN_REVIEW = "in_review"
APPROVED = "approved"


class Action(StrEnum):
    """What a reviewer does (a closed set, stored in the audit trail)."""

    INVALIDATE = "invalidate"  # readings of a range are not valid data
    CONFIRM = "confirm"  # readings of a range are valid, whatever the automatic checks said
    QC = "qc"  # a QC comparison result for the day (reason qc_pass / qc_fail)
    SUBMIT = "submit"  # tier 1 hands the day to tier 2
    APPROVE = "approve"  # tier 2 hands it to tier 3; tier 3 closes it
    RETURN = "return"  # tier 2 or 3 sends it one tier down


MARKS = frozenset({Action.INVALIDATE, Action.CONFIRM})
# Reason codes a mark or QC result must carry.
REASON_CODES: dict[Action, frozenset[str]] = {
    Action.INVALIDATE: frozenset(
        {
            "instrument_fault",
            "calibration",
            "maintenance",
            "power_outage",
            "communication_loss",
            "interference",
            "sampling_fault",
            "other",
        }
    ),
    Action.CONFIRM: frozenset({"verified_on_site", "verified_by_comparison", "real_event", "other"}),
    Action.QC: frozenset({"qc_pass", "qc_fail"}),
}


class ReviewRefused(Exception):  # noqa: N818  # the API maps it to 409 Conflict like its other refusals
    """The action is not allowed now (wrong tier, closed day, missing reason...)."""


@dataclass(frozen=True, slots=True)
class Transition:
    """Where an allowed action leaves the review."""

    tier: int
    state: str


def tier_of(role: str) -> int | None:
    """1-3 for a reviewer role, None for anyone else."""
    return REVIEW_ROLES.index(role) + 1 if role in REVIEW_ROLES else None


def check(action: Action, role: str, tier: int, state: str, *, reason_code: str | None, comment: str) -> Transition:
    """The review's tier and state after ``action`` by ``role``; raise ReviewRefused when it is not allowed."""
    if state == APPROVED:
        raise ReviewRefused("the day is approved; its review is closed")
    own = tier_of(role)
    if own is None:
        raise ReviewRefused(f"role {role!r} does not review data (needs one of {', '.join(REVIEW_ROLES)})")
    if own != tier:
        raise ReviewRefused(f"the day is at tier {tier} ({REVIEW_ROLES[tier - 1]}); {role} is tier {own}")
    if action in REASON_CODES:
        if reason_code not in REASON_CODES[action]:
            codes = ", ".join(sorted(REASON_CODES[action]))
            raise ReviewRefused(f"{action.value} needs reason_code, one of: {codes}")
        return Transition(tier, state)
    if action is Action.SUBMIT:
        if tier != 1:
            raise ReviewRefused("only the station tier submits; the centre and bureau approve or return")
        return Transition(2, IN_REVIEW)
    if action is Action.APPROVE:
        if tier == 1:
            raise ReviewRefused("the station tier submits (approve is for the centre and bureau)")
        return Transition(3, IN_REVIEW) if tier == 2 else Transition(3, APPROVED)
    if action is Action.RETURN:
        if tier == 1:
            raise ReviewRefused("the station tier has nobody to return the day to")
        if not comment.strip():
            raise ReviewRefused("returning a day needs a comment saying what to look at again")
        return Transition(tier - 1, IN_REVIEW)
    raise ReviewRefused(f"unknown action {action!r}")
