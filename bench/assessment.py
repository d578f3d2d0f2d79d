"""Benchmark of the source-term estimator against releases with known truth (prints figures, not pass/fail).

Releases come from the demo park's candidate sources (and a few from unlisted places), with random rates, wind
directions and speeds, stability classes A-F and 5-40 detectors, simulated by ``bench/assessment_truth.py`` (a
meandering puff model with Martin 1976 sigmas: not the estimator's own steady Briggs plume). The estimate is made
from 1-minute bins at ``--minutes`` after the first alarm.

    python bench/assessment.py [--cases 120] [--seed 1] [--minutes 10] [--infer-class]

By default the estimator is handed the true stability class. With ``--infer-class`` it gets the class the live runner
would infer (``detectors.stability.assessment_stability``): each release gets a local time of day that fits its
class (A-C by day, E-F by night, D either), and the class comes from the sigma-theta method on the weather station's
minute directions of the last 15 minutes by day, from Turner's night columns with the cloud unknown by night.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from shapely.geometry import Polygon

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assessment_truth import TrueRelease, measure, simulate

from daemon.assessment.mixture_zones import EXPECTED_PROBABILITY, MixtureWind, exceedance, receptor_points
from daemon.assessment.threat_zones import PlumeState, footprint
from daemon.site_file import load_site
from detectors.estimation_bins import bin_edges, bin_gas, bin_wind, direction_effective_samples, direction_sd_deg
from detectors.plume import briggs_sigmas, local_metres
from detectors.source_estimation import (
    BinnedWind,
    Candidate,
    EstimateStatus,
    GasObservations,
    SearchGrid,
    SourceEstimate,
    estimate_source,
)
from detectors.stability import assessment_stability, class_weights
from detectors.substances import SUBSTANCES

SITE = Path(__file__).resolve().parent.parent / "daemon" / "sites" / "demo-park.yaml"
BIN_S = 60.0
LOOKBACK_BINS = 10  # bins before the first alarm the estimator sees (their zeros date the start)
CLASSES = ("A", "B", "C", "D", "E", "F")
# Typical wind speeds per class (Turner 1970 table 1 rows where the class occurs).
SPEEDS = {"A": (1.5, 2.5), "B": (2.0, 4.5), "C": (2.5, 6.0), "D": (3.0, 9.0), "E": (2.0, 4.5), "F": (1.5, 3.0)}
# --infer-class: the releases happen on a June day at the demo park (China Standard Time, UTC+8); unstable classes by
# day (10:00-15:00 local), stable ones by night (22:00-04:00), neutral either (Pasquill: A-C need insolation, E-F a
# clear night).
JUNE_DAY_UTC_S = 1_781_481_600.0  # 2026-06-15 00:00 UTC
LOCAL_OFFSET_S = 8 * 3600.0
DAY_HOURS, NIGHT_HOURS = (10.0, 15.0), (22.0, 28.0)
SIGMA_THETA_MINUTES = 15  # as the runner (SIGMA_THETA_WINDOW_S / SIGMA_THETA_MIN_READINGS): 15 minutes, >= 10 readings


@dataclass
class Case:
    """One benchmark run and what the estimator said."""

    truth_id: str | None
    n_detectors: int
    stability: str
    alarmed: bool
    estimate: SourceEstimate | None
    truth_e: float
    truth_n: float
    rate_g_s: float
    start_s: float
    seconds: float
    receptors_right: int = 0  # receptors whose AEGL-2 membership the point estimate's plume got right
    receptors_total: int = 0
    receptors_false_in: int = 0  # receptors the point estimate puts in the AEGL-2 zone that the truth does not
    mixture_right: int = 0  # the same from the posterior mixture (in: P(AEGL-2) >= 50 % at its most exposed point)
    mixture_false_in: int = 0
    zone_seconds: float = 0.0  # CPU for the mixture's receptor probabilities
    used_class: str = ""  # the class the estimator was given (the true one, or the inferred one)
    detail: str = ""  # what drives the estimate: the detectors that see the gas, and the silent ones in the plume


def _site() -> tuple[list[Candidate], list[tuple[str, list[str]]], SearchGrid]:
    site = load_site(SITE)
    c = site.center
    cands: list[Candidate] = []
    held: list[tuple[str, list[str]]] = []
    for s in site.sources:
        e, n = local_metres(s.position.lat, s.position.lon, c.lat, c.lon)
        cands.append(Candidate(s.id, float(e), float(n), s.release_height_m))
        held.append((s.id, s.substances))
    grid = SearchGrid(-1900.0, 1900.0, -1400.0, 1400.0, 200.0)
    return cands, held, grid


def _detectors(n: int, rng: np.random.Generator) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Half on the 3 km x 2 km park boundary, half inside it."""
    on_edge = n - n // 2
    perimeter = rng.uniform(0.0, 10_000.0, on_edge)
    e = np.empty(on_edge)
    nn = np.empty(on_edge)
    for i, p in enumerate(perimeter):
        if p < 3000:
            e[i], nn[i] = p - 1500, 1000
        elif p < 5000:
            e[i], nn[i] = 1500, 1000 - (p - 3000)
        elif p < 8000:
            e[i], nn[i] = 1500 - (p - 5000), -1000
        else:
            e[i], nn[i] = -1500, -1000 + (p - 8000)
    inside = n // 2
    return (
        np.concatenate([e, rng.uniform(-1400, 1400, inside)]),
        np.concatenate([nn, rng.uniform(-900, 900, inside)]),
    )


def run_case(
    rng: np.random.Generator,
    cands: list[Candidate],
    held: list[tuple[str, list[str]]],
    grid: SearchGrid,
    minutes: float,
    n_det: int | None = None,
    unlisted: bool = False,
    clock: np.random.Generator | None = None,
) -> Case:
    """Simulate one release and estimate it ``minutes`` after the first alarm; with a ``clock`` generator, at a
    time of day drawn for its class and with the class the runner would infer (else the true class)."""
    k = int(rng.integers(len(cands)))
    gas = str(rng.choice(held[k][1]))
    if unlisted:
        truth_e, truth_n, height, truth_id = float(rng.uniform(-1300, 1300)), float(rng.uniform(-800, 800)), 2.0, None
        gas = "Cl2"
    else:
        truth_e, truth_n, height, truth_id = cands[k].east_m, cands[k].north_m, cands[k].height_m, cands[k].id
    substance = SUBSTANCES[gas]
    stability = str(rng.choice(CLASSES))
    speed = float(rng.uniform(*SPEEDS[stability]))
    n_det = n_det or int(rng.integers(5, 41))
    det_e, det_n = _detectors(n_det, rng)
    full_scale = np.full(n_det, round(max(20 * substance.occupational_limit_ppm, substance.idlh * 2), 1))
    noise = full_scale * 0.005
    alarm_level = substance.occupational_limit_ppm
    rate = float(np.exp(rng.uniform(math.log(5.0), math.log(2000.0))))
    release = TrueRelease(
        truth_e, truth_n, height, rate, 600.0, speed, float(rng.uniform(0, 360)), stability, substance.molar_mass_g_mol
    )
    end = 600.0 + 3600.0
    times, true_ppm, wind_speed, wind_from = simulate(release, det_e, det_n, end, rng)
    reading = measure(true_ppm, full_scale, noise, rng)
    over = np.nonzero((reading >= alarm_level).any(axis=1))[0]
    if over.shape[0] == 0 or times[over[0]] + minutes * 60 > end:
        return Case(truth_id, n_det, stability, False, None, truth_e, truth_n, rate, 600.0, 0.0)
    first_alarm = float(times[over[0]])
    now = first_alarm + minutes * 60.0
    n_bins = LOOKBACK_BINS + int(minutes)
    ends = bin_edges(math.floor(now / BIN_S) * BIN_S, BIN_S, n_bins)
    seen = times < ends[-1]
    cols = np.broadcast_to(np.arange(n_det), reading.shape)
    t_all = np.broadcast_to(times[:, None], reading.shape)
    mean, sat = bin_gas(t_all[seen].ravel(), cols[seen].ravel(), reading[seen].ravel(), n_det, ends, BIN_S, full_scale)
    # The weather station reports once a minute with a vane error of a few degrees.
    wx = (times % 60.0) == 0
    station_speed = wind_speed[wx] * (1 + 0.05 * rng.standard_normal(int(wx.sum())))
    station_from = wind_from[wx] + 3.0 * rng.standard_normal(int(wx.sum()))
    speed_b, dir_b, _ = bin_wind(times[wx], station_speed, station_from, ends, BIN_S)
    obs = GasObservations(det_e, det_n, ends, BIN_S, mean, sat, full_scale, noise, noise)
    used: str = stability
    weights: tuple[tuple[str, float], ...] = ()  # the true class: no weights (the estimator's neighbour prior)
    if clock is not None:
        recent = (times[wx] > now - SIGMA_THETA_MINUTES * 60.0) & (times[wx] <= now)
        used, weights = _inferred_class(stability, station_from[recent], speed_b, clock)
    wind = BinnedWind(speed_b, dir_b, used, ends, class_weights=weights)
    cand_here = [
        Candidate(c.id, c.east_m, c.north_m, c.height_m, gas in subs) for c, (_, subs) in zip(cands, held, strict=True)
    ]
    started = time.process_time()
    estimate = estimate_source(obs, wind, cand_here, grid, substance.molar_mass_g_mol, now)
    seconds = time.process_time() - started
    started = time.process_time()
    wander = direction_sd_deg(dir_b[-15:])  # as the runner: the wander of the minute means, not the turbulence
    agree = _receptor_agreement(estimate, release, gas, float(speed_b[-1]), float(dir_b[-1]), wander, now, used)
    zone_seconds = time.process_time() - started
    detail = _detail(release, obs, speed_b, dir_b, now)
    return Case(
        truth_id, n_det, stability, True, estimate, truth_e, truth_n, rate, 600.0, seconds, *agree, zone_seconds, used,
        detail,
    )  # fmt: skip


def _detail(
    release: TrueRelease, obs: GasObservations, speed_b: NDArray[np.float64], dir_b: NDArray[np.float64], now: float
) -> str:
    """Per case, for --per-case: each detector that sees the gas (distance from the true source, angle off the
    measured mean wind of the last 10 minutes, peak 1-minute mean, S when saturated), and how many silent detectors
    lie inside the Briggs plume of the measured wind (within 2 sigma_y and reached by the front): those are the
    zeros that pull the rate down when the true plume is narrower or elsewhere."""
    de, dn = obs.east_m - release.east_m, obs.north_m - release.north_m
    towards = math.radians(float(np.degrees(np.angle(np.exp(1j * np.radians(dir_b[-10:])).mean()))) + 180.0)
    along = de * math.sin(towards) + dn * math.cos(towards)
    across = -de * math.cos(towards) + dn * math.sin(towards)
    off_deg = np.degrees(np.arctan2(across, along))
    full: NDArray[np.bool_] = np.asarray(obs.saturated.any(axis=0))
    seeing: NDArray[np.bool_] = np.asarray((obs.mean_ppm > obs.detection_limit_ppm[None, :]).any(axis=0) | full)
    peak = np.nanmax(np.nan_to_num(obs.mean_ppm, nan=0.0), axis=0)
    sigma_y, _ = briggs_sigmas(np.maximum(along, 1.0), release.stability)
    reached = (along > 0) & (along < float(np.mean(speed_b[-10:])) * (now - release.start_s))
    silent_in = int((~seeing & reached & (np.abs(across) < 2 * sigma_y)).sum())
    parts = [
        f"{math.hypot(de[d], dn[d]):.0f}m {off_deg[d]:+.0f}deg {peak[d]:.2g}ppm{'S' if full[d] else ''}"
        for d in np.argsort(-peak)
        if seeing[d]
    ]
    return f"silent in plume {silent_in}; seeing: " + ", ".join(parts[:5])


def _inferred_class(
    stability: str, directions: NDArray[np.float64], speed_b: NDArray[np.float64], clock: np.random.Generator
) -> tuple[str, tuple[tuple[str, float], ...]]:
    """The class the live runner would infer at a local time of day that fits the true class, and how sure it is
    (``detectors.stability.class_weights`` with the directions' effective count, as the runner)."""
    night = stability in ("E", "F") or (stability == "D" and clock.random() < 0.5)
    low, high = NIGHT_HOURS if night else DAY_HOURS
    local_h = float(clock.uniform(low, high))
    clock_s = JUNE_DAY_UTC_S + local_h * 3600.0 - LOCAL_OFFSET_S
    sigma_theta = direction_sd_deg(directions) if directions.shape[0] >= 10 else None
    speed = float(speed_b[-1]) if sigma_theta is None else float(np.mean(speed_b[-SIGMA_THETA_MINUTES:]))
    spread = None if sigma_theta is None else (sigma_theta, direction_effective_samples(directions))
    weights = class_weights(speed, clock_s, SITE_LAT, SITE_LON, sigma_theta=spread)
    return assessment_stability(speed, clock_s, SITE_LAT, SITE_LON, sigma_theta_deg=sigma_theta), weights


def _receptors() -> list[Polygon]:
    site = load_site(SITE)
    c = site.center
    out = []
    for r in site.receptors:
        e, n = local_metres(np.array([p.lat for p in r.polygon]), np.array([p.lon for p in r.polygon]), c.lat, c.lon)
        out.append(Polygon(np.column_stack([e, n])))
    return out


RECEPTORS = _receptors()
_CENTRE = load_site(SITE).center
SITE_LAT, SITE_LON = _CENTRE.lat, _CENTRE.lon


def _receptor_agreement(
    estimate: SourceEstimate,
    release: TrueRelease,
    gas: str,
    speed: float,
    wind_from: float,
    sd: float,
    now: float,
    used_class: str,
) -> tuple[int, int, int, int, int]:
    """Receptors inside the AEGL-2 zone drawn from the true source, rate and start (the zone model with the measured
    wind) against (a) the expected zone of the point estimate and (b) the posterior mixture (P >= 50 %): right,
    total, wrongly in for (a), then right and wrongly in for (b). No estimate: all 'outside'."""
    level = SUBSTANCES[gas].aegl2[2]
    truth = footprint(
        PlumeState(
            release.east_m, release.north_m, release.height_m, release.rate_g_s, speed, wind_from,
            release.stability, release.molar_mass_g_mol, now - release.start_s,
        ),
        level,
    )  # fmt: skip
    known = estimate.status is not EstimateStatus.NOT_ENOUGH_INFORMATION
    guess = Polygon()
    mixture = [False] * len(RECEPTORS)
    if known:
        guess = footprint(
            PlumeState(
                estimate.east_m, estimate.north_m, release.height_m, estimate.rate_g_s, speed, wind_from,
                used_class, release.molar_mass_g_mol, max(0.0, now - estimate.start_s),
            ),
            level,
        )  # fmt: skip
        wind = MixtureWind(speed, wind_from, sd, used_class, release.molar_mass_g_mol)
        for i, r in enumerate(RECEPTORS):
            east, north = receptor_points(r)
            p = exceedance(estimate.hypotheses, wind, level, east, north, now)
            mixture[i] = bool(p.max() >= EXPECTED_PROBABILITY)
    inside = [truth.intersects(r) for r in RECEPTORS]
    point = [guess.intersects(r) for r in RECEPTORS]
    return (
        sum(a == b for a, b in zip(inside, point, strict=True)),
        len(RECEPTORS),
        sum(b and not a for a, b in zip(inside, point, strict=True)),
        sum(a == b for a, b in zip(inside, mixture, strict=True)),
        sum(b and not a for a, b in zip(inside, mixture, strict=True)),
    )


def covered(case: Case) -> bool:
    """The true source is inside the 95 % region (its candidate, or a region cell holding it)."""
    est = case.estimate
    assert est is not None
    if case.truth_id is not None and case.truth_id in est.region_candidates:
        return True
    half = est.cell_step_m / 2
    inside = (np.abs(est.region_cells_east_m - case.truth_e) <= half) & (
        np.abs(est.region_cells_north_m - case.truth_n) <= half
    )
    return bool(inside.any())


def summarise(cases: list[Case], label: str) -> None:
    """Print the figures for a set of cases."""
    done = [c for c in cases if c.alarmed and c.estimate is not None]
    if not done:
        print(f"{label}: no case alarmed")
        return
    answered = [
        c for c in done if c.estimate is not None and c.estimate.status is not EstimateStatus.NOT_ENOUGH_INFORMATION
    ]
    listed = [c for c in done if c.truth_id is not None]
    right = [c for c in listed if c.estimate is not None and c.estimate.best_candidate == c.truth_id]
    errors = np.array(
        [
            math.hypot(c.estimate.east_m - c.truth_e, c.estimate.north_m - c.truth_n)
            for c in done
            if c.estimate and math.isfinite(c.estimate.east_m)
        ]
    )
    factors = np.array(
        [
            max(c.estimate.rate_g_s / c.rate_g_s, c.rate_g_s / c.estimate.rate_g_s)
            for c in done
            if c.estimate and math.isfinite(c.estimate.rate_g_s)
        ]
    )
    cover = np.array([covered(c) for c in done])
    start_err = np.array(
        [abs(c.estimate.start_s - c.start_s) for c in done if c.estimate and math.isfinite(c.estimate.start_s)]
    )
    secs = np.array([c.seconds for c in done])
    print(f"\n{label}: {len(cases)} releases, {len(done)} alarmed, {len(answered)} answered (not 'not enough info')")
    if listed:
        print(f"  right plant (top candidate)        {len(right) / len(listed):6.1%}   ({len(right)}/{len(listed)})")
    if errors.size:
        print(f"  location error median / p90        {np.median(errors):6.0f} / {np.percentile(errors, 90):.0f} m")
    if factors.size:
        within = np.mean(factors <= 2)
        print(f"  rate within x2                     {within:6.1%}   (median factor {np.median(factors):.2f})")
        ratio = np.array(
            [c.estimate.rate_g_s / c.rate_g_s for c in done if c.estimate and math.isfinite(c.estimate.rate_g_s)]
        )
        print(f"    below half / above twice the truth {np.mean(ratio < 0.5):6.1%} / {np.mean(ratio > 2):.1%}")
    flagged = [c for c in done if c.estimate is not None and math.isfinite(c.estimate.rate_g_s)]
    for uncertain in (True, False):
        group = [c for c in flagged if c.estimate is not None and c.estimate.rate_uncertain is uncertain]
        if group:
            ok = np.mean([c.estimate is not None and 0.5 <= c.estimate.rate_g_s / c.rate_g_s <= 2 for c in group])
            label = "flagged 'rate uncertain'" if uncertain else "not flagged"
            print(f"    {label:<30} {ok:6.1%}   ({len(group)} releases)")
    bounds = [c for c in flagged if c.estimate is not None and c.estimate.rate_lower_bound]
    if bounds:
        held = np.mean([c.estimate is not None and c.rate_g_s >= c.estimate.rate_g_s for c in bounds])
        print(
            f"    of which 'lower bound' (full scale) {len(bounds):3d} releases, true rate at or above it {held:6.1%}"
        )
    expect = [_within_two_probability(c.estimate) for c in flagged if c.estimate is not None]
    print(f"  the estimator's own P(within x2)   {np.mean(expect):6.1%}   (rate posterior mass within x2 of the point)")
    inside = np.array(
        [c.estimate.rate_interval_g_s[0] <= c.rate_g_s <= c.estimate.rate_interval_g_s[1] for c in done if c.estimate]
    )
    print(f"  true rate inside the 95 % interval {inside.mean():6.1%}")
    print(f"  true source in 95 % region         {cover.mean():6.1%}")
    hit = [c for c in done if c.receptors_total]
    exposed = [c for c in hit if c.receptors_right < c.receptors_total]
    share = sum(c.receptors_right for c in hit) / max(sum(c.receptors_total for c in hit), 1)
    print(f"  receptor AEGL-2 membership right   {share:6.1%}   ({len(exposed)} releases with a receptor wrong)")
    false_in = sum(c.receptors_false_in for c in hit)
    print(f"    point estimate: receptors put in the zone wrongly   {false_in}")
    mix_share = sum(c.mixture_right for c in hit) / max(sum(c.receptors_total for c in hit), 1)
    mix_wrong = [c for c in hit if c.mixture_right < c.receptors_total]
    mix_false = sum(c.mixture_false_in for c in hit)
    print(
        f"  ... from the posterior mixture     {mix_share:6.1%}   ({len(mix_wrong)} releases with a receptor wrong, "
        f"{mix_false} receptors put in wrongly)"
    )
    _claims(done)
    if start_err.size:
        print(
            f"  start time error median / p90      {np.median(start_err):6.0f} / {np.percentile(start_err, 90):.0f} s"
        )
    print(f"  CPU per update median / max        {np.median(secs) * 1000:6.0f} / {secs.max() * 1000:.0f} ms")
    zone_secs = np.array([c.zone_seconds for c in done])
    print(f"  CPU receptor probabilities med/max {np.median(zone_secs) * 1000:6.0f} / {zone_secs.max() * 1000:.0f} ms")


def _within_two_probability(estimate: SourceEstimate) -> float:
    """The posterior mass of the rate within x2 of the point rate, given the most probable place: what the
    estimator itself expects the benchmark's 'rate within x2' to be for this release, if it is calibrated."""
    if not estimate.hypotheses:
        return 0.0
    h = max(estimate.hypotheses, key=lambda h: h.probability)
    log_rates = np.log(h.rates_g_s)
    edges = log_rates + (log_rates[1] - log_rates[0]) / 2  # the grid's cells: weights up to each upper edge
    cdf = np.cumsum(h.rate_weights) / max(float(h.rate_weights.sum()), 1e-300)
    point = math.log(estimate.rate_g_s)
    high = float(np.interp(point + math.log(2.0), edges, cdf, left=0.0, right=1.0))
    low = float(np.interp(point - math.log(2.0), edges, cdf, left=0.0, right=1.0))
    return high - low


def _claims(done: list[Case]) -> None:
    """How often each status is claimed and, for listed releases, how often its top candidate is right; and the
    calibration of the top candidate's posterior probability (claimed vs observed share right)."""
    listed = [c for c in done if c.truth_id is not None and c.estimate is not None]
    for status in EstimateStatus:
        group = [c for c in listed if c.estimate is not None and c.estimate.status is status]
        right = sum(c.estimate is not None and c.estimate.best_candidate == c.truth_id for c in group)
        if group:
            print(f"  claims '{status.value}': {len(group):3d}, top candidate right {right / len(group):.0%}")
    for low, high in ((0.0, 0.3), (0.3, 0.6), (0.6, 0.9), (0.9, 1.01)):
        calib: list[tuple[float, bool]] = []
        for c in listed:
            assert c.estimate is not None
            top = max((p.probability for p in c.estimate.candidates), default=0.0)
            if low <= top < high:
                best = max(c.estimate.candidates, key=lambda p: p.probability)
                calib.append((top, best.id == c.truth_id))
        if calib:
            said = float(np.mean([g[0] for g in calib]))
            seen = float(np.mean([g[1] for g in calib]))
            print(
                f"  top candidate at {low:.0%}-{min(high, 1.0):.0%}: {len(calib):3d} cases, "
                f"says {said:.0%}, right {seen:.0%}"
            )


def _per_case(cases: list[Case]) -> None:
    """One line per alarmed release: class (true/given), rate (true, estimate, factor), plant right, status, and
    what drives the rate (see ``_detail``)."""
    print("\nper release: class true/given, rate true -> estimate (factor), right plant, status, detectors")
    for i, c in enumerate(cases):
        est = c.estimate
        if est is None:
            continue
        factor = est.rate_g_s / c.rate_g_s
        mark = "ok " if 0.5 <= factor <= 2 else "BAD"
        print(
            f"  #{i:3d} {mark} {c.stability}/{c.used_class} {c.rate_g_s:7.1f} -> {est.rate_g_s:7.1f} g/s "
            f"(x{factor:5.2f}) {'right' if est.best_candidate == c.truth_id else 'WRONG'} {est.status.value:<13} "
            f"{c.detail}"
        )


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--per-case", action="store_true", help="print one line per alarmed listed release")
    parser.add_argument(
        "--infer-class", action="store_true", help="give the estimator the class the live runner infers, not the truth"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    # The time of day has its own generator, so the releases are the same with and without --infer-class.
    clock = np.random.default_rng([args.seed, 15]) if args.infer_class else None
    cands, held, grid = _site()
    print(f"stability class given to the estimator: {'inferred as the runner does' if clock else 'the true class'}")
    cases = [run_case(rng, cands, held, grid, args.minutes, clock=clock) for _ in range(args.cases)]
    summarise(cases, f"listed sources, {args.minutes:g} min after the first alarm")
    summarise(
        [c for c in cases if c.estimate is not None and c.estimate.detectors_seeing >= 3],
        "  of which: 3 or more detectors see the gas",
    )
    summarise(
        [c for c in cases if c.estimate is not None and c.estimate.status is EstimateStatus.LOCATED],
        "  of which: the estimator says 'located'",
    )
    by_class = {s: [c for c in cases if c.stability == s] for s in CLASSES}
    for s, group in by_class.items():
        done = [c for c in group if c.estimate is not None]
        right = [c for c in done if c.estimate is not None and c.estimate.best_candidate == c.truth_id]
        close = [c for c in done if c.estimate is not None and 0.5 <= c.estimate.rate_g_s / c.rate_g_s <= 2]
        given = ", ".join(f"{g} {n}" for g, n in sorted(Counter(c.used_class for c in done).items()))
        print(
            f"    class {s}: {len(done):3d} alarmed, right plant {len(right) / max(len(done), 1):.0%}, "
            f"rate within x2 {len(close) / max(len(done), 1):.0%}   (class given: {given})"
        )
    if args.per_case:
        _per_case(cases)
    unlisted = [
        run_case(rng, cands, held, grid, args.minutes, unlisted=True, clock=clock)
        for _ in range(max(10, args.cases // 6))
    ]
    summarise(unlisted, "unlisted sources (free search)")
    big = [run_case(rng, cands, held, grid, args.minutes, n_det=100, clock=clock) for _ in range(5)]
    secs = [c.seconds for c in big if c.alarmed]
    if secs:
        print(f"\n100 detectors: one update {np.median(secs) * 1000:.0f} ms CPU median, {max(secs) * 1000:.0f} ms max")


if __name__ == "__main__":
    main()
