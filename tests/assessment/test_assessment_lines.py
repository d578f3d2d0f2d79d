"""The one-line summaries of an assessment say when the rate rests on one detector."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import Polygon

from daemon.assessment.runner import Assessment
from detectors.source_estimation import EstimateStatus, SourceEstimate

NOW = 1_800_000_000.0


def _assessment(detectors_seeing: int, lower_bound: bool = False) -> Assessment:
    empty = np.zeros(0)
    estimate = SourceEstimate(
        EstimateStatus.LOCATED, "test", NOW, (), 0.0, 0.0, 0.0, "cl2-liquefaction", 120.0, (15.0, 900.0),
        NOW - 600, (NOW - 900, NOW - 300), ("cl2-liquefaction",), empty, empty,
        detectors_seeing=detectors_seeing, detectors_total=12, rate_lower_bound=lower_bound,
    )  # fmt: skip
    return Assessment("Cl2", NOW, estimate, None, (), {}, {}, Polygon(), (), (), 0.0)


@pytest.mark.parametrize("line", [Assessment.summary, Assessment.page_line])
def test_one_detector_makes_the_rate_uncertain_in_the_lines(line: object) -> None:
    """Seen by one detector: the summary and the page line say 'rate uncertain' with the interval; seen by three,
    they give the rate alone."""
    assert callable(line)
    one = line(_assessment(1))
    three = line(_assessment(3))
    assert "rate uncertain (one detector; 95 % 15-900 g/s)" in one
    assert "uncertain" not in three
    assert "~120 g/s" in three


@pytest.mark.parametrize("line", [Assessment.summary, Assessment.page_line])
def test_detectors_at_full_scale_make_the_rate_a_lower_bound_in_the_lines(line: object) -> None:
    """Every detector that sees the gas at full scale: the lines say the rate is a lower bound, with the interval,
    however many detectors see it."""
    assert callable(line)
    three = line(_assessment(3, lower_bound=True))
    assert "rate is a lower bound (detectors at full scale; 95 % 15-900 g/s)" in three
    assert "one detector" not in three
