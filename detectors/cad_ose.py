"""CAD-OSE: the Contextual Anomaly Detector, Open Source Edition (Smirnov 2016), as NAB runs it.

The NAB entry "contextOSE" (standard 69.9, reward-low-FP 67.0, reward-low-FN 73.2 in NAB's
results/final_results.json) is Mikhail Smirnov's detector, https://github.com/smirmik/CAD, as copied into NAB
under nab/detectors/context_ose/ (cad_ose.py, context_operator.py, context_ose_detector.py). This is the same
algorithm, re-expressed:

- Each reading is scaled into 0..7 over the series' minimum..maximum (NAB hands every detector the whole
  file's range) and its 3 bits become 3 "facts": bit position p with value b is fact 2p + b.
- A *context* joins a left semi-context (a set of facts: the previous step's sensor facts plus the active
  "neurons", i.e. contexts, it fired) and a right semi-context (a set of the current sensor facts). Every step
  stores the "zero-level" context (previous left facts, current facts); when it is new, partial overlaps of
  stored zero-level contexts with the current input become candidate new contexts.
- A context whose left side was wholly present last step is *selected*; it is *active* when its right side
  is wholly present now. Active contexts gain a count; the 15 highest (count, left hash, right hash) become
  this step's neurons, facts 2**31 + context id, carried into the next left facts.
- Raw score: (1 - active/selected + new contexts/unique candidates) / 2. The reported score is 0 while any raw
  score of the previous ``rest`` steps reached 0.75 (the first ``rest`` steps too), so an event is reported
  once; NAB uses rest = probation / 5 with probation = min(floor(0.15 n), 750).

Ties among active contexts are broken by the hash of their fact tuples, and candidate contexts are numbered in
the iteration order of the dictionaries that hold them, so which neurons fire depends on both. NAB's published
contextOSE scores (results/contextOSE, 2016) were made by CPython 2.7; to reproduce them this module computes
CPython 2.7's tuple hash (Objects/tupleobject.c, tuplehash) and the iteration order of a CPython 2.7 dict of
small ints (Objects/dictobject.c, lookdict and dictresize) itself, so the scores do not depend on the running
interpreter. Checked against NAB's result files by tests/detectors/test_cad_ose.py (slow, when NAB is on disk).

The scaling reads the whole series' range first, like NAB's harness, so this is a back-test score; memory grows
with the contexts learned. No wall clock, no random numbers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

BASE_THRESHOLD = 0.75  # cad_ose.py baseThreshold: a raw score this high starts a rest period
MAX_LEFT_SEMI_CONTEXT_LENGTH = 7  # cad_ose.py maxLeftSemiContextsLenght: longest partial left side kept
MAX_ACTIVE_NEURONS = 15  # cad_ose.py maxActiveNeuronsNum
VALUE_BITS = 3  # cad_ose.py numNormValueBits: 8 levels
MAX_LEVEL = 2**VALUE_BITS - 1
NEURON_FACT_OFFSET = 2**31  # cad_ose.py: a neuron's fact is 2**31 + its context id
PROBATION_FRACTION = 0.15  # NAB config: probationaryPercent
PROBATION_CAP = 750  # NAB nab/util.py getProbationPeriod: min(floor(0.15 n), 0.15 * 5000)
REST_DIVISOR = 5.0  # NAB context_ose_detector.py: restPeriod = probationaryPeriod / 5.0

_INT64 = 1 << 64
_PY2_DICT_MINSIZE = 8
_PERTURB_SHIFT = 5


def _signed64(x: int) -> int:
    """Wrap to a C long (two's complement, 64 bits), as CPython 2.7's hash arithmetic does on Linux x86-64."""
    x &= _INT64 - 1
    return x - _INT64 if x >= _INT64 >> 1 else x


def py2_tuple_hash(items: tuple[int, ...]) -> int:
    """CPython 2.7's hash of a tuple of ints (tupleobject.c tuplehash; an int hashes to itself, -1 to -2)."""
    x = 0x345678
    mult = 1000003
    remaining = len(items)
    for item in items:
        remaining -= 1
        x = _signed64((x ^ (-2 if item == -1 else item)) * mult)
        mult += 82520 + remaining + remaining
    x = _signed64(x + 97531)
    return -2 if x == -1 else x


def _py2_slot(table: list[int | None], mask: int, key: int) -> int:
    """The free slot CPython 2.7's open addressing finds for a non-negative int key (dictobject.c lookdict)."""
    i = key & mask
    if table[i] is None:
        return i
    perturb = key
    while True:
        i = ((i << 2) + i + perturb + 1) & (_INT64 - 1)
        if table[i & mask] is None:
            return i & mask
        perturb >>= _PERTURB_SHIFT


def py2_dict_order(keys: list[int]) -> list[int]:
    """Iteration order of a CPython 2.7 dict after inserting these distinct non-negative int keys in this order.

    dictobject.c: the table starts at 8 slots; after an insertion leaves 2/3 or more of it filled it is rebuilt
    with the smallest power of two above 4 x used, reinserting in slot order; iteration goes slot by slot.
    """
    mask = _PY2_DICT_MINSIZE - 1
    table: list[int | None] = [None] * _PY2_DICT_MINSIZE
    for used, key in enumerate(keys, start=1):
        table[_py2_slot(table, mask, key)] = key
        if used * 3 >= (mask + 1) * 2:
            size = _PY2_DICT_MINSIZE
            while size <= 4 * used:
                size <<= 1
            old = [k for k in table if k is not None]
            mask = size - 1
            table = [None] * size
            for k in old:
                table[_py2_slot(table, mask, k)] = k
    return [k for k in table if k is not None]


def _grown(array: NDArray[Any], needed: int) -> NDArray[Any]:
    """The array itself, or a copy with room for at least ``needed`` entries (capacity doubles)."""
    if needed <= array.shape[0]:
        return array
    bigger = np.zeros(max(needed, 2 * array.shape[0]), array.dtype)
    bigger[: array.shape[0]] = array
    return bigger


# Number of set bits of every 8-bit mask: how many of a semi-context's sensor facts are present.
_POPCOUNT = np.array([bin(m).count("1") for m in range(256)], np.int64)


class _SemiContexts:
    """One side's semi-contexts as arrays: sensor-fact bit masks, sizes, hashes; neuron facts indexed by fact."""

    def __init__(self) -> None:
        # CAD-OSE keys semi-contexts by the hash of their facts; by the facts themselves is the same bar a
        # 64-bit hash collision, and saves computing the hash of every lookup.
        self.ids: dict[tuple[int, ...], int] = {}
        self.facts: list[tuple[int, ...]] = []
        self.sensor_mask = np.zeros(64, np.int64)
        self.sizes = np.zeros(64, np.int64)
        self.hashes = np.zeros(64, np.int64)
        # Per neuron fact: the semi-contexts holding it (an array with spare room) and how many there are.
        self.with_neuron: dict[int, tuple[NDArray[np.int64], int]] = {}

    def __len__(self) -> int:
        return len(self.facts)

    def get_or_add(self, facts: tuple[int, ...]) -> int:
        """The id of the semi-context with these facts (sorted), stored now if new."""
        found = self.ids.get(facts)
        if found is not None:
            return found
        new = len(self.facts)
        self.ids[facts] = new
        self.facts.append(facts)
        self.sensor_mask = _grown(self.sensor_mask, new + 1)
        self.sizes = _grown(self.sizes, new + 1)
        self.hashes = _grown(self.hashes, new + 1)
        self.sensor_mask[new] = _sensor_mask(facts)
        self.sizes[new] = len(facts)
        self.hashes[new] = py2_tuple_hash(facts)
        for fact in facts:
            if fact >= NEURON_FACT_OFFSET:
                holders, used = self.with_neuron.get(fact, (np.zeros(4, np.int64), 0))
                holders = _grown(holders, used + 1)
                holders[used] = new
                self.with_neuron[fact] = holders, used + 1
        return new

    def cross(self, facts: tuple[int, ...]) -> NDArray[np.int64]:
        """How many of ``facts`` each semi-context holds."""
        n = len(self.facts)
        shared: NDArray[np.int64] = _POPCOUNT[self.sensor_mask[:n] & _sensor_mask(facts)]
        held = [self.with_neuron.get(fact) for fact in facts if fact >= NEURON_FACT_OFFSET]
        parts = [holders[:used] for holders, used in filter(None, held)]
        if parts:
            shared += np.bincount(np.concatenate(parts), minlength=n)
        return shared


def _sensor_mask(facts: tuple[int, ...]) -> int:
    """Bit f set for every sensor fact f (facts below 2 * VALUE_BITS; levels are 0..7 so no more occur)."""
    mask = 0
    for fact in facts:
        if fact < NEURON_FACT_OFFSET:
            mask |= 1 << fact
    return mask


class ContextualAnomalyDetector:
    """CAD-OSE's learner over one series, one reading at a time (``raw_score``), the value range given up front.

    Contexts are numpy arrays (left and right semi-context ids, activation counts, zero-level flags), so one
    step's activation pass is a handful of array operations over every context rather than a Python loop.
    """

    def __init__(self, min_value: float, max_value: float) -> None:
        self.min_value = float(min_value)
        full_range = float(max_value) - self.min_value
        self.level_step = (full_range if full_range != 0.0 else float(MAX_LEVEL)) / float(MAX_LEVEL)
        self.left = _SemiContexts()
        self.right = _SemiContexts()
        # Per left semi-context: right semi-context id -> context id, in insertion order.
        self.contexts_of_left: list[dict[int, int]] = []
        self.n = 0  # contexts stored
        self.left_of = np.zeros(256, np.int64)
        self.right_of = np.zeros(256, np.int64)
        self.count = np.zeros(256, np.int64)  # times each context was active
        self.zero_level = np.zeros(256, np.bool_)  # once stored as a whole step's (left, right) pair
        self.order_in_left = np.zeros(256, np.int64)  # its place in its left semi-context's CPython 2.7 dict
        self.left_facts: tuple[int, ...] = ()
        self.left_shared = np.zeros(0, np.int64)  # facts each left semi-context shared with the last left facts

    def _context(self, left: tuple[int, ...], right: tuple[int, ...], zero_level: bool) -> tuple[int, bool]:
        """The id of context (left, right) and whether it is new; a zero-level lookup marks it zero-level."""
        lid = self.left.get_or_add(left)
        if lid == len(self.contexts_of_left):
            self.contexts_of_left.append({})
        rid = self.right.get_or_add(right)
        by_right = self.contexts_of_left[lid]
        cid = by_right.get(rid)
        if cid is not None:
            if zero_level:
                self.zero_level[cid] = True
            return cid, False
        cid = self.n
        self.n += 1
        self.left_of = _grown(self.left_of, self.n)
        self.right_of = _grown(self.right_of, self.n)
        self.count = _grown(self.count, self.n)
        self.zero_level = _grown(self.zero_level, self.n)
        self.order_in_left = _grown(self.order_in_left, self.n)
        self.left_of[cid] = lid
        self.right_of[cid] = rid
        self.zero_level[cid] = zero_level
        by_right[rid] = cid
        for place, r in enumerate(py2_dict_order(list(by_right))):
            self.order_in_left[by_right[r]] = place
        return cid, True

    def _facts(self, value: float) -> tuple[int, ...]:
        """The reading's sensor facts: bit p of its level (0..7, truncated) as fact 2p + bit.

        A reading outside the range given is clamped into it (NAB's harness gives the file's own range).
        """
        level = min(max(int((value - self.min_value) / self.level_step), 0), MAX_LEVEL)
        return tuple(sorted(2 * p + ((level >> p) & 1) for p in range(VALUE_BITS)))

    def _step(self, sensor: tuple[int, ...]) -> tuple[float, float]:
        """Learn one step; the fraction of selected contexts that are active and of candidates that were new."""
        candidates: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
        new_zero = False
        # CAD-OSE skips one context id in the activation pass: the zero-level context just stored, or else
        # id 0 (it compares with False, which equals 0).
        skip = 0
        previous = self.left_facts
        if previous:
            candidates.add((previous, sensor))
            cid, new_zero = self._context(previous, sensor, zero_level=True)
            if new_zero:
                skip = cid
        n = self.n
        left_of, right_of = self.left_of[:n], self.right_of[:n]
        # Left semi-contexts stored since the last crossing shared nothing with it.
        left_shared = np.zeros(len(self.left), np.int64)
        left_shared[: self.left_shared.shape[0]] = self.left_shared
        shared_left = left_shared[left_of]
        whole_left = shared_left == self.left.sizes[left_of]
        shared_right = self.right.cross(sensor)[right_of]
        whole_right = shared_right == self.right.sizes[right_of]
        counted = np.ones(n, np.bool_)
        if skip < n:
            counted[skip] = False
        selected = whole_left & counted
        active = np.flatnonzero(selected & whole_right)
        self.count[active] += 1
        proposed: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
        if new_zero:
            # A stored zero-level context that the input overlaps in part on both sides proposes that overlap.
            partial = (
                counted
                & self.zero_level[:n]
                & (shared_left > 0)
                & (shared_left <= MAX_LEFT_SEMI_CONTEXT_LENGTH)
                & (shared_right > 0)
                & ~(whole_left & whole_right)
            )
            found = np.flatnonzero(partial)
            # CAD-OSE proposes in left semi-context order, then in the iteration order of that one's dict.
            found = found[np.lexsort((self.order_in_left[found], left_of[found]))]
            kept_left, kept_right = set(previous), set(sensor)
            left_facts, right_facts = self.left.facts, self.right.facts
            overlap_left: dict[int, tuple[int, ...]] = {}
            overlap_right: dict[int, tuple[int, ...]] = {}
            for lid, rid in zip(left_of[found].tolist(), right_of[found].tolist(), strict=True):
                left_part = overlap_left.get(lid)
                if left_part is None:
                    left_part = overlap_left[lid] = tuple(f for f in left_facts[lid] if f in kept_left)
                right_part = overlap_right.get(rid)
                if right_part is None:
                    right_part = overlap_right[rid] = tuple(f for f in right_facts[rid] if f in kept_right)
                proposed.append((left_part, right_part))
            candidates.update(proposed)
        n_selected = int(np.count_nonzero(selected))
        active_fraction = active.shape[0] / n_selected if n_selected > 0 else 0.0
        ranked = active[
            np.lexsort((self.right.hashes[right_of[active]], self.left.hashes[left_of[active]], self.count[active]))
        ]
        neurons = {NEURON_FACT_OFFSET + c for c in ranked[-MAX_ACTIVE_NEURONS:].tolist()}
        self.left_facts = tuple(sorted(neurons.union(sensor)))
        added = sum(self._context(left, right, zero_level=False)[1] for left, right in proposed)
        self.left_shared = self.left.cross(self.left_facts)
        added += new_zero
        new_fraction = added / len(candidates) if new_zero and candidates else 0.0
        return active_fraction, new_fraction

    def raw_score(self, value: float) -> float:
        """Learn the next reading; its raw anomaly score (0..1), before the rest period."""
        active_fraction, new_fraction = self._step(self._facts(value))
        return (1.0 - active_fraction + new_fraction) / 2.0


def rested(raw: NDArray[np.float64], rest: int) -> NDArray[np.float64]:
    """The reported scores: 0 while a raw score of the ``rest`` readings before reached 0.75, and for the first
    ``rest`` readings (CAD-OSE starts its score history with 1.0); the raw score otherwise.

    CAD-OSE's ``max(aScoresHistory[-restPeriod:]) < baseThreshold`` test, along the whole series at once.
    """
    n = raw.shape[0]
    if rest <= 0:
        return np.zeros(n)
    at = np.arange(n)
    last_high = np.maximum.accumulate(np.where(raw >= BASE_THRESHOLD, at, -1))
    before = np.concatenate(([-1], last_high[:-1]))
    return np.where((at < rest) | (before >= at - rest), 0.0, raw)


def nab_rest(readings: int) -> int:
    """CAD-OSE's rest period as NAB sets it for a file of this many readings: probation / 5, truncated."""
    probation = min(math.floor(PROBATION_FRACTION * readings), PROBATION_FRACTION * 5000)
    return int(probation / REST_DIVISOR)


def cad_ose_raw(value: NDArray[np.float64]) -> NDArray[np.float64]:
    """CAD-OSE's raw scores (0..1) of a series in time order, scaled over its finite range.

    Non-finite readings score 0 and are not learned.
    """
    out = np.zeros(value.shape[0])
    finite = np.isfinite(value)
    if not finite.any():
        return out
    kept = value[finite]
    detector = ContextualAnomalyDetector(float(kept.min()), float(kept.max()))
    out[finite] = [detector.raw_score(v) for v in kept.tolist()]
    return out


def cad_ose_score(value: NDArray[np.float64]) -> NDArray[np.float64]:
    """CAD-OSE's reported scores (0..1) of a series in time order, with NAB's rest period (NAB's contextOSE).

    Non-finite readings score 0 and are neither learned nor counted in the rest period.
    """
    out = np.zeros(value.shape[0])
    finite = np.isfinite(value)
    out[finite] = rested(cad_ose_raw(value[finite]), nab_rest(int(finite.sum())))
    return out
