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

import numpy as np
from numpy.typing import NDArray

BASE_THRESHOLD = 0.75  # cad_ose.py baseThreshold: a raw score this high starts a rest period
MAX_LEFT_SEMI_CONTEXT_LENGTH = 7  # cad_ose.py maxLeftSemiContextsLenght: longest partial left side kept
MAX_ACTIVE_NEURONS = 15  # cad_ose.py maxActiveNeuronsNum
VALUE_BITS = 3  # cad_ose.py numNormValueBits: 8 levels
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


class _SemiContexts:
    """One side's semi-contexts: fact tuples by hash, sizes, hashes, and which semi-contexts hold each fact."""

    __slots__ = ("by_fact", "hashes", "ids", "sizes")

    def __init__(self) -> None:
        self.ids: dict[int, int] = {}
        self.sizes: list[int] = []
        self.hashes: list[int] = []
        self.by_fact: dict[int, list[int]] = {}

    def get_or_add(self, facts: tuple[int, ...]) -> int:
        """The id of the semi-context with these facts (sorted), stored now if new (keyed by hash, as CAD-OSE)."""
        key = py2_tuple_hash(facts)
        found = self.ids.get(key)
        if found is not None:
            return found
        new = len(self.sizes)
        self.ids[key] = new
        self.sizes.append(len(facts))
        self.hashes.append(key)
        for fact in facts:
            self.by_fact.setdefault(fact, []).append(new)
        return new

    def cross(self, facts: tuple[int, ...]) -> dict[int, list[int]]:
        """For every semi-context sharing a fact with ``facts`` (sorted): the shared facts, in order."""
        crossed: dict[int, list[int]] = {}
        for fact in facts:
            for semi in self.by_fact.get(fact, ()):
                shared = crossed.get(semi)
                if shared is None:
                    crossed[semi] = [fact]
                else:
                    shared.append(fact)
        return crossed


class ContextualAnomalyDetector:
    """CAD-OSE over one series, one reading at a time (``score``), with the value range given up front."""

    def __init__(self, min_value: float, max_value: float, rest: int) -> None:
        self.min_value = float(min_value)
        full_range = float(max_value) - self.min_value
        max_level = 2.0**VALUE_BITS - 1.0
        self.level_step = (full_range if full_range != 0.0 else max_level) / max_level
        self.rest = rest
        self.left = _SemiContexts()
        self.right = _SemiContexts()
        # Per left semi-context: right semi-context id -> context id, and those right ids in CPython 2.7 order.
        self.contexts_of_left: list[dict[int, int]] = []
        self.right_order: list[list[int]] = []
        self.right_inserted: list[list[int]] = []
        self.count: list[int] = []  # times each context was active
        self.zero_level: list[bool] = []  # the context was once stored as a whole step's (left, right) pair
        self.left_of: list[int] = []
        self.right_of: list[int] = []
        self.left_facts: tuple[int, ...] = ()
        self.left_crossed: dict[int, list[int]] = {}
        self.steps = 0
        self.last_high = 0  # step index (1-based, 0 = CAD-OSE's initial score history of 1.0) of a raw score >= 0.75

    def _context(self, left: tuple[int, ...], right: tuple[int, ...], zero_level: bool) -> tuple[int, bool]:
        """The id of context (left, right) and whether it is new; a zero-level lookup marks it zero-level."""
        lid = self.left.get_or_add(left)
        if lid == len(self.contexts_of_left):
            self.contexts_of_left.append({})
            self.right_order.append([])
            self.right_inserted.append([])
        rid = self.right.get_or_add(right)
        by_right = self.contexts_of_left[lid]
        cid = by_right.get(rid)
        if cid is not None:
            if zero_level:
                self.zero_level[cid] = True
            return cid, False
        cid = len(self.count)
        by_right[rid] = cid
        self.right_inserted[lid].append(rid)
        self.right_order[lid] = py2_dict_order(self.right_inserted[lid])
        self.count.append(0)
        self.zero_level.append(zero_level)
        self.left_of.append(lid)
        self.right_of.append(rid)
        return cid, True

    def _facts(self, value: float) -> tuple[int, ...]:
        """The reading's sensor facts: bit p of its level (0..7, truncated) as fact 2p + bit."""
        level = int((value - self.min_value) / self.level_step)
        bits = max(VALUE_BITS, level.bit_length())
        return tuple(sorted(2 * p + ((level >> p) & 1) for p in range(bits)))

    def _step(self, sensor: tuple[int, ...]) -> tuple[float, float]:
        """Learn one step; the fraction of selected contexts that are active and of candidates that were new."""
        candidates: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
        new_zero = False
        # CAD-OSE skips one context id in the activation pass: the zero-level context just stored, or else
        # id 0 (it compares with False, which equals 0).
        skip = 0
        if self.left_facts:
            candidates.add((self.left_facts, sensor))
            cid, new_zero = self._context(self.left_facts, sensor, zero_level=True)
            if new_zero:
                skip = cid
        right_crossed = self.right.cross(sensor)
        active: list[int] = []
        selected = 0
        proposed: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
        sizes_left, sizes_right = self.left.sizes, self.right.sizes
        for lid in sorted(self.left_crossed):
            shared_left = self.left_crossed[lid]
            whole_left = len(shared_left) == sizes_left[lid]
            by_right = self.contexts_of_left[lid]
            for rid in self.right_order[lid]:
                cid = by_right[rid]
                if cid == skip:
                    continue
                shared_right = right_crossed.get(rid)
                if whole_left:
                    selected += 1
                    if shared_right is None:
                        continue
                    if len(shared_right) == sizes_right[rid]:
                        self.count[cid] += 1
                        active.append(cid)
                        continue
                elif shared_right is None:
                    continue
                if self.zero_level[cid] and new_zero and len(shared_left) <= MAX_LEFT_SEMI_CONTEXT_LENGTH:
                    proposed.append((tuple(shared_left), tuple(shared_right)))
        candidates.update(proposed)
        active_fraction = len(active) / selected if selected > 0 else 0.0
        hashes_left, hashes_right = self.left.hashes, self.right.hashes
        active.sort(key=lambda c: (self.count[c], hashes_left[self.left_of[c]], hashes_right[self.right_of[c]]))
        neurons = {NEURON_FACT_OFFSET + c for c in active[-MAX_ACTIVE_NEURONS:]}
        self.left_facts = tuple(sorted(neurons.union(sensor)))
        added = sum(self._context(left, right, zero_level=False)[1] for left, right in proposed)
        self.left_crossed = self.left.cross(self.left_facts)
        added += new_zero
        new_fraction = added / len(candidates) if new_zero and candidates else 0.0
        return active_fraction, new_fraction

    def score(self, value: float) -> float:
        """The reported anomaly score of the next reading (0..1)."""
        active_fraction, new_fraction = self._step(self._facts(value))
        raw = (1.0 - active_fraction + new_fraction) / 2.0
        self.steps += 1
        resting = self.rest <= 0 or self.last_high >= self.steps - self.rest
        if raw >= BASE_THRESHOLD:
            self.last_high = self.steps
        return 0.0 if resting else raw


def nab_rest(readings: int) -> int:
    """CAD-OSE's rest period as NAB sets it for a file of this many readings: probation / 5, truncated."""
    probation = min(math.floor(PROBATION_FRACTION * readings), PROBATION_FRACTION * 5000)
    return int(probation / REST_DIVISOR)


def cad_ose_score(value: NDArray[np.float64]) -> NDArray[np.float64]:
    """CAD-OSE scores (0..1) of a series in time order, scaled over its finite range with NAB's rest period.

    Non-finite readings score 0 and are not learned.
    """
    out = np.zeros(value.shape[0])
    finite = np.isfinite(value)
    if not finite.any():
        return out
    kept = value[finite]
    detector = ContextualAnomalyDetector(float(kept.min()), float(kept.max()), nab_rest(kept.shape[0]))
    out[finite] = [detector.score(v) for v in kept.tolist()]
    return out
