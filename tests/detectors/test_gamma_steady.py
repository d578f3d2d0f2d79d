"""Gamma's steady-stretch path (gamma_steady.py) gives bit for bit what the general rank loop gives."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from detectors import gamma_steady
from detectors.core import DetectionCore
from detectors.gamma import GammaDetector
from detectors.readings import ReadingBatch
from tests.detectors.synthetic import T0, MixedSite, mixed_site, stream

STEP_S = 60.0


def _day(seed: int, rain_from: int | None) -> tuple[MixedSite, ReadingBatch]:
    """Ten hours of Poisson noise at the gamma stations with a few one-reading spikes (readings not learnt), a +40 %
    step at one station (evidence builds, a rise turns on), and rain for an hour when ``rain_from`` is set (the
    washout memory makes stretches after it take the general loop)."""
    rng = np.random.default_rng(seed)
    steps = 10 * 60
    site = mixed_site()
    values: dict[int, np.ndarray] = {}
    for g in site.gamma:
        mean = np.full(steps, 80.0 + 10 * g)
        mean[rng.integers(60, steps, 8)] *= 3.0
        values[g] = rng.poisson(mean * 6.0) / 6.0
    values[site.gamma[0]][7 * 60 :] *= 1.4
    rain = np.zeros(steps)
    if rain_from is not None:
        rain[rain_from : rain_from + 60] = 6.0
    values[site.rain] = rain
    return site, stream([*site.gamma, site.rain], T0, STEP_S, values)


def _replay(site: MixedSite, batch: ReadingBatch, cuts: list[int]) -> tuple[list[object], GammaDetector]:
    """Feed the core in the given pieces; every output and the gamma state at the end."""
    core = DetectionCore(site.config)
    out: list[object] = []
    for a, b in itertools.pairwise([0, *cuts, len(batch)]):
        result = core.process(batch.take(slice(a, b)))
        out.append(result.anomaly_score.tobytes())
        for e in result.conditions:
            out.append((e.condition, e.sensor.tobytes(), e.time.tobytes(), e.active.tobytes(), e.level.tobytes()))
    return out, core.gamma


def _state(gamma: GammaDetector) -> dict[str, bytes]:
    arrays = ("background", "variance", "learned", "evidence", "smooth", "wet_peak", "wet_rate", "excess_last")
    return {name: getattr(gamma, name).tobytes() for name in arrays}


@pytest.mark.parametrize(("seed", "rain_from"), [(1, None), (2, 4 * 60)])
def test_steady_path_equals_general_loop(seed: int, rain_from: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of ten hours (first ones warming up, then steady; after rain, general again) give the same scores,
    transitions and carried state, to the bit, with the steady path as with the general loop alone."""
    site, batch = _day(seed, rain_from)
    per_step = len(site.gamma) + 1
    cuts = list(range(per_step * 45, len(batch), per_step * 97))  # blocks of 97 minutes, the first 45
    used = []
    real = gamma_steady.run

    def counted(*args: object, **kwargs: object) -> gamma_steady.SteadyResult:
        used.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(gamma_steady, "run", counted)
    fast, fast_gamma = _replay(site, batch, cuts)
    assert used, "the steady path never ran: the test would prove nothing"
    monkeypatch.setattr(gamma_steady, "applies", lambda *args: False)
    general, general_gamma = _replay(site, batch, cuts)
    assert fast == general
    assert _state(fast_gamma) == _state(general_gamma)
    assert any(isinstance(o, tuple) and o[0] == "gamma.rise" for o in general)
