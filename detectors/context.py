"""Context novelty: how new the recent sequence of coarse value levels is, learned online from the series itself.

The AR(1) evidence score (``detectors.anomaly``) knows a level and a noise scale but no recurring pattern: a
daily cycle's peak looks as surprising every day, and a missing peak not at all. This learner follows the idea
of the Contextual Anomaly Detector (Smirnov & Kobzev, CAD-OSE, the NAB entry "contextOSE", 2016): remember
which contexts of quantised values have been seen, and call a reading anomalous when the context it completes
is new. It is a plain variable-order context memory (as in prediction by partial matching, Cleary & Witten,
IEEE Trans. Commun. 32 (1984) 396-402), not CAD-OSE's semi-context crossing:

- each reading is quantised to one of ``LEVELS`` equal-width levels of the range seen *before* it (a reading
  outside that range gets a level further out at the same width, which is itself new);
- for every order k = 0 .. ``MAX_ORDER`` the pair (previous k levels, this level) is looked up in a counter;
  the order's novelty is ``1 / (1 + count)`` (1 for a pair never seen, fading as it recurs);
- the raw novelty is the mean over orders, in [0, 1];
- as in CAD-OSE, after a raw novelty of ``REST_LEVEL`` or more the output is held at 0 for ``REST_READINGS``
  readings, so one event is reported once, at its start.

Every score depends only on the readings before it and itself (online); no wall clock, no random numbers.
The memory grows with the number of distinct contexts seen, which the back-test of one recorded series can
afford; the live core keeps its fixed-size AR(1) state.

Parameters were chosen on half of the NAB corpus (the 29 even-numbered files in sorted path order) and
checked on the other half; see docs/detection.md.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

LEVELS = 4  # equal-width levels of the range seen so far (coarse: a level must recur to form contexts)
MAX_ORDER = 8  # longest context, in readings
REST_LEVEL = 0.75  # a raw novelty this high starts a rest (CAD-OSE's base threshold)
REST_READINGS = 10  # readings held at 0 after a raw novelty of REST_LEVEL
# Weight of the AR(1) evidence score in the blend: it breaks ties between the few novelty values a new
# context can take and adds the spike and shift evidence of a reading whose context is familiar.
EVIDENCE_WEIGHT = 0.1


def context_novelty(value: NDArray[np.float64]) -> NDArray[np.float64]:
    """Novelty (0..1) of each reading's context of quantised levels, readings in time order.

    Non-finite readings score 0 and are neither learned nor part of any context.
    """
    n = value.shape[0]
    out = np.zeros(n)
    finite = np.isfinite(value)
    counts: dict[tuple[int, ...], int] = {}
    history: list[int] = []
    low = high = math.nan
    rest_until = -1
    orders = MAX_ORDER + 1
    counted = -1  # finite readings so far (the rest period counts readings, skipping non-finite ones)
    for i, v in enumerate(value.tolist()):
        if not finite[i]:
            continue
        counted += 1
        if math.isnan(low):
            low = high = v
        span = high - low
        if span > 0.0:
            # The top of the range is in the top level; beyond the range, levels go on at the same width.
            level = LEVELS - 1 if v == high else math.floor((v - low) / span * LEVELS)
        else:
            level = 0 if v == low else (-1 if v < low else LEVELS)
        novelty = 0.0
        depth = len(history)
        for k in range(min(orders, depth + 1)):
            key = (k, *history[depth - k :], level)
            seen = counts.get(key, 0)
            novelty += 1.0 / (1.0 + seen)
            counts[key] = seen + 1
        raw = novelty / orders
        if counted > rest_until:
            out[i] = raw
        if raw >= REST_LEVEL:
            rest_until = counted + REST_READINGS
        history.append(level)
        if len(history) > MAX_ORDER:
            del history[0]
        low, high = min(low, v), max(high, v)
    return out


def context_score(
    time: NDArray[np.float64], value: NDArray[np.float64], evidence: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Per reading in input order: context novelty blended with the AR(1) evidence score (capped at 1), 0..1.

    Readings are taken in time order (stable for equal times), so shuffled input gives the same scores.
    """
    order = np.argsort(time, kind="stable")
    novelty = context_novelty(value[order])
    blended = (novelty + EVIDENCE_WEIGHT * np.clip(evidence[order], 0.0, 1.0)) / (1.0 + EVIDENCE_WEIGHT)
    out = np.empty_like(blended)
    out[order] = blended
    return out
