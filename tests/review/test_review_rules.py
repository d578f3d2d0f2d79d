"""The review workflow's tier rules and the after-review validity, as pure functions."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.review.ratios import Counts, Mark, qc_pass_ratio, valid_after_review
from daemon.review.workflow import APPROVED, IN_REVIEW, Action, ReviewRefused, check


def test_the_day_goes_up_the_tiers_and_back() -> None:
    assert check(Action.SUBMIT, "reviewer_station", 1, IN_REVIEW, reason_code=None, comment="").tier == 2
    assert check(Action.APPROVE, "reviewer_centre", 2, IN_REVIEW, reason_code=None, comment="").tier == 3
    assert check(Action.RETURN, "reviewer_bureau", 3, IN_REVIEW, reason_code=None, comment="why").tier == 2
    final = check(Action.APPROVE, "reviewer_bureau", 3, IN_REVIEW, reason_code=None, comment="")
    assert (final.tier, final.state) == (3, APPROVED)


@pytest.mark.parametrize(
    ("action", "role", "tier", "state", "reason", "comment"),
    [
        (Action.SUBMIT, "reviewer_centre", 1, IN_REVIEW, None, ""),  # not their tier
        (Action.APPROVE, "reviewer_station", 1, IN_REVIEW, None, ""),  # the station tier submits
        (Action.SUBMIT, "reviewer_centre", 2, IN_REVIEW, None, ""),  # the centre approves or returns
        (Action.RETURN, "reviewer_centre", 2, IN_REVIEW, None, " "),  # a return says why
        (Action.INVALIDATE, "reviewer_station", 1, IN_REVIEW, None, ""),  # no reason code
        (Action.CONFIRM, "reviewer_station", 1, IN_REVIEW, "instrument_fault", ""),  # an invalidation reason
        (Action.QC, "reviewer_station", 1, IN_REVIEW, "maybe", ""),
        (Action.CONFIRM, "reviewer_bureau", 3, APPROVED, "other", ""),  # closed
        (Action.INVALIDATE, "supervisor", 1, IN_REVIEW, "other", ""),  # not a reviewer
    ],
)
def test_refusals(action: Action, role: str, tier: int, state: str, reason: str | None, comment: str) -> None:
    with pytest.raises(ReviewRefused):
        check(action, role, tier, state, reason_code=reason, comment=comment)


def test_the_later_mark_wins_and_marks_stay_on_their_sensor() -> None:
    sensor = np.array(["a", "a", "a", "b"], dtype=object)
    time = np.array([0.0, 10.0, 20.0, 10.0])
    valid = np.array([True, False, True, True])
    marks = [
        Mark(Action.INVALIDATE, None, 0.0, 15.0),  # both sensors, 0 <= t < 15
        Mark(Action.CONFIRM, "a", 10.0, 30.0),  # a from 10 on
    ]
    assert valid_after_review(sensor, time, valid, marks).tolist() == [False, True, True, False]
    assert valid.tolist() == [True, False, True, True]  # the input is not changed


def test_ratios_and_qc() -> None:
    counts = Counts(100.0, 96, 90, 80) + Counts(100.0, 100, 100, 100)
    assert counts.ratios() == {"capture": 0.98, "valid_before": 0.95, "valid_after": 0.9}
    assert Counts(0.0, 0, 0, 0).ratios()["capture"] is None
    assert qc_pass_ratio(["qc_pass", "qc_pass", "qc_fail", "qc_pass"]) == 0.75
    assert qc_pass_ratio([]) is None
