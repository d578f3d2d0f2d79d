"""The assessment's line on a plan page: the release estimate and the gamma source search, whichever has one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from daemon.assessment.gamma_search import GammaSearch
from daemon.assessment.runner import AssessmentRunner


@dataclass(frozen=True)
class PageAssessment:
    """Called by the outbox for each plan page (``Outbox.assessment``): the lines that concern its alarms."""

    release: AssessmentRunner
    gamma: GammaSearch

    def __call__(self, alarm_keys: Sequence[str], incident_id: str | None) -> str:
        parts = (self.release.page_summary(alarm_keys, incident_id), self.gamma.page_summary(alarm_keys, incident_id))
        return "\n".join(part for part in parts if part)
