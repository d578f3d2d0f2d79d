"""Whether the assessment conditions the plan triggers use hold, with the probability and the reason.

"AEGL-2 zone reaches a residential receptor" (the plan proposes orange) and "a school or hospital inside the
AEGL-3 zone" (proposes red) hold only when the posterior says so with at least the stated probability: the
receptor's most exposed point exceeds the level with probability >= ``threshold`` over the candidate sources, the
rate and the wind direction (``daemon.assessment.mixture_zones``). A confident-looking point estimate of a wrong
source cannot raise them on its own. Each check keeps its reason, fired or not, for the timeline and the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from daemon.assessment.threat_zones import ReceptorImpact
from detectors.source_estimation import EstimateStatus, SourceEstimate
from rules.condition_names import ASSESSMENT_AEGL2_RESIDENTIAL, ASSESSMENT_AEGL3_SCHOOL_HOSPITAL
from rules.site import ReceptorType

# Which receptor types and which zone levels each condition looks at.
_RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    ASSESSMENT_AEGL2_RESIDENTIAL: ((ReceptorType.RESIDENTIAL.value,), ("AEGL-2", "AEGL-3"), "AEGL-2"),
    ASSESSMENT_AEGL3_SCHOOL_HOSPITAL: (
        (ReceptorType.SCHOOL.value, ReceptorType.HOSPITAL.value),
        ("AEGL-3",),
        "AEGL-3",
    ),
}


@dataclass(frozen=True, slots=True)
class TriggerCheck:
    """One assessment condition at one assessment: does it hold, for how many people, how sure, and why."""

    condition: str
    holds: bool
    probability: float  # the highest probability over the receptors it looks at
    people: int  # population of the receptors over the threshold
    reason: str


def check_triggers(
    estimate: SourceEstimate, impacts: tuple[ReceptorImpact, ...], threshold: float
) -> dict[str, TriggerCheck]:
    """Each assessment condition checked against the receptors' zone probabilities."""
    out: dict[str, TriggerCheck] = {}
    for condition, (types, zone_names, label) in _RULES.items():
        watched = [r for r in impacts if r.type in types]
        if estimate.status is EstimateStatus.NOT_ENOUGH_INFORMATION or not estimate.hypotheses:
            out[condition] = TriggerCheck(
                condition, False, 0.0, 0, f"not raised: no zones, the source is not known ({estimate.reason})"
            )
            continue
        if not watched:
            out[condition] = TriggerCheck(condition, False, 0.0, 0, "not raised: no such receptor in the site file")
            continue

        def chance(r: ReceptorImpact, zone_names: tuple[str, ...] = zone_names) -> float:
            return max((r.zone_probability.get(z, 0.0) for z in zone_names), default=0.0)

        hits = [r for r in watched if chance(r) >= threshold]
        top = max(watched, key=chance)
        p = chance(top)
        source = (
            f"source {estimate.best_candidate or 'unlisted'} ({estimate.status.value})"
            if estimate.status is EstimateStatus.LOCATED
            else f"over the candidate sources ({estimate.reason})"
        )
        if hits:
            names = ", ".join(f"{r.name} {chance(r):.0%}" for r in hits)
            reason = f"raised: {names} inside the {label} zone with probability >= {threshold:.0%}, {source}"
        else:
            reason = (
                f"not raised: the most exposed, {top.name}, is inside the {label} zone with probability {p:.0%} "
                f"< {threshold:.0%}, {source}"
            )
        out[condition] = TriggerCheck(condition, bool(hits), p, sum(r.population for r in hits), reason)
    return out
