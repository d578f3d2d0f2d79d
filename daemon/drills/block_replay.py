"""Quiet stretches of a replay run as one block: many live batches through the detectors in one pass.

A faithful replay closes a batch every 20 ms of recording time and runs the timers every second, and each pass
through the detection core costs about the same whatever its size, so a replay of a quiet day was almost all
per-batch overhead. Most batches change nothing downstream: no condition turns on or off, no ``level`` rule
fires, no timer is due. The detectors carry their state per sensor so that any split of the readings gives the
same result (``detectors.hysteresis``, ``detectors.streams``), so such batches can go through the core together,
each reading stamped with the time its own batch closed.

``BlockRunner`` holds the batches and the timer ticks of a stretch (``defer``) and runs them (``settle``):

- It first runs the readings of the whole stretch through the core and the ``level`` rules as one block. When
  that produces no condition transition, no level event and no duplicate reading, the stretch was quiet: nothing
  reached the alarm chain, and the block's flags, latest values and stored readings are what the batches one by
  one would have produced.
- Otherwise the core and the level rules are put back as they were. Nothing happens after the close of the batch
  that caused it, so the batches that closed before the first change run again as one (quiet) block. The trial
  also saw which batches held the readings at which something changed (a change is stamped with its reading's
  time, and a reading may arrive many batches after its time, so its time alone points too early): each of them
  goes through the pipeline alone, exactly as live (``Pipeline.process`` at its close time), and the batches
  between them are held again and tried again (what ran alone changed the state they start from, so a foreseen
  quiet stretch is only a guess until its trial says so). When the trial cannot tell (a reading repeated or out
  of order), the next batch runs alone and the rest is held in blocks that start at one batch and double while
  they stay quiet. Fewer than four held batches run one by one, without a trial. So every batch that does change
  something is judged alone, at its own time.

A tick is held only while it is certain to do nothing: no device can fall silent by then (from the last time each
was heard, counting the held batches), no sensor has the day of history the capture check needs, no rule, alarm
or incident timer is due, and the release assessment has no gas alarm to assess or its next update (once a minute)
is not due. A tick that may act, and a batch that closes when an alarm timer is due, run the held stretch first and
then themselves, as live.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from daemon.chain.build import DrillChain
from daemon.chain.seen_readings import SeenReadings, reading_keys
from daemon.clock import ManualClock
from detectors.core import DetectionCore
from detectors.readings import ReadingBatch

CAPTURE_HISTORY_S = 86_400.0  # ``QualityDetector.capture_events``: a sensor is judged after a day of history
MAX_BLOCK_READINGS = 400_000  # a held stretch is run once it holds this many readings (memory stays bounded; each block
# costs a state copy and a pass of fixed costs: at 500 sensors x 1 Hz, 100,000 was a block every 200 s)
MAX_BLOCK_BATCHES = 1 << 16
MIN_BLOCK_BATCHES = 4  # fewer held batches run one by one: a trial costs a state copy and, if busy, a second pass
# A held tick is cleared without the full check while it is this far before every limit (the limits are sums of
# times, the check subtracts them: the margin covers their rounding).
TICK_MARGIN_S = 1e-3
_NO_TICKS = np.zeros(0, np.float64)
_NO_TICKS_AFTER = np.zeros(0, np.intp)


@dataclass(frozen=True, slots=True)
class _Batch:
    """A live batch: its readings and the time it closed (when live would have judged it)."""

    close: float
    readings: ReadingBatch


@dataclass(frozen=True, slots=True)
class _Span:
    """Consecutive live batches and the ticks between them, held as one step: batch ``k`` holds the next
    ``sizes[k]`` readings and closed at ``close[k]``; tick ``j`` is at ``ticks[j]``, after ``tick_after[j]`` of the
    batches (a columnar replay forms them without a Python object per batch or tick)."""

    close: NDArray[np.float64]
    sizes: NDArray[np.intp]
    readings: ReadingBatch
    ticks: NDArray[np.float64]
    tick_after: NDArray[np.intp]

    def steps(self) -> list[_Batch | _Tick]:
        """The batches and ticks one by one, in order."""
        bounds = [0, *np.cumsum(self.sizes).tolist()]
        batches = [
            _Batch(close, self.readings.take(slice(bounds[k], bounds[k + 1])))
            for k, close in enumerate(self.close.tolist())
        ]
        out: list[_Batch | _Tick] = []
        done = 0
        for at, after in zip(self.ticks.tolist(), self.tick_after.tolist(), strict=True):
            out += batches[done:after]
            out.append(_Tick(at))
            done = after
        return out + batches[done:]


@dataclass(frozen=True, slots=True)
class _Tick:
    """A timer tick that was certain to do nothing when it was held."""

    at: float


_Step = _Batch | _Span | _Tick
_Held = _Batch | _Span  # steps that hold readings
_Single = _Batch | _Tick  # steps run one by one


def _closes_and_sizes(held: Sequence[_Held]) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """Each held batch's close time and number of readings, in order."""
    closes = [np.array([step.close]) if isinstance(step, _Batch) else step.close for step in held]
    sizes = [np.array([len(step.readings)], np.intp) if isinstance(step, _Batch) else step.sizes for step in held]
    return np.concatenate(closes), np.concatenate(sizes)


def _one_by_one(steps: Sequence[_Step]) -> list[_Single]:
    """The steps with every span opened into its batches."""
    out: list[_Single] = []
    for step in steps:
        if isinstance(step, _Span):
            out.extend(step.steps())
        else:
            out.append(step)
    return out


class BlockRunner:
    """Holds the quiet batches and ticks of a replay and runs them as blocks (see the module docstring)."""

    def __init__(
        self,
        chain: DrillChain,
        clock: ManualClock,
        after_step: Callable[[], Awaitable[None]],
    ) -> None:
        self._chain = chain
        self._clock = clock
        self._after_step = after_step  # sends the pages a step queued (at the recording time they were raised)
        self._steps: list[_Step] = []
        self._held_readings = 0
        self._held_batches = 0
        self._cap = MAX_BLOCK_BATCHES
        # Times at which the last busy trial saw something change, after what has run since (see ``_run``).
        self._foreseen = _NO_TICKS
        core = chain.pipeline.detector
        config = core.config
        self._device_of = config.device
        self._limit = config.offline_intervals * config.device_interval_s  # silence that makes a device offline
        self._heard = core.liveness.last_seen.copy()  # per device, counting the held batches
        self._unheard: list[_Held] = []  # held batches not yet counted in _heard
        self._chain_due = math.inf
        self._ticks_clear_until = -math.inf  # held ticks before this need no full check (see ``tick_may_wait``)
        self.blocks = 0  # stretches that ran as one block
        self.single_batches = 0  # batches that went through the pipeline alone
        self.refresh()

    # ---- what may be held

    def refresh(self) -> None:
        """Read the timers again after anything ran through the chain."""
        state = self._chain.pipeline.flow.state
        self._chain_due = min(state.rules.next_due(), state.book.next_due(), state.incidents.next_due())
        self._heard = self._chain.pipeline.detector.liveness.last_seen.copy()
        self._ticks_clear_until = -math.inf
        self._unheard = [step for step in self._steps if not isinstance(step, _Tick)]

    def _fold_heard(self) -> None:
        """Count the held batches not yet counted in ``_heard`` (once per tick, not once per batch)."""
        if not self._unheard:
            return
        held, self._unheard = self._unheard, []
        sensor = np.concatenate([step.readings.sensor for step in held])
        time = np.concatenate([step.readings.time for step in held])
        close = np.repeat(*_closes_and_sizes(held))
        np.fmax.at(self._heard, self._device_of[sensor], np.maximum(time, close))

    def batch_may_wait(self, close: float) -> bool:
        """Whether a batch closing at ``close`` can be held: no alarm timer is due by then, and the block is not
        full (its size doubles with each quiet block, from one batch after a busy one)."""
        return (
            close < self._chain_due
            and close < self._next_change
            and self._held_readings < MAX_BLOCK_READINGS
            and self._held_batches < self._cap
        )

    @property
    def _next_change(self) -> float:
        """The earliest foreseen change: the batch that closes at or after it runs alone, without a trial."""
        return float(self._foreseen[0]) if len(self._foreseen) else math.inf

    def passed(self, close: float) -> None:
        """Batches up to ``close`` have run: forget the changes foreseen by then."""
        if len(self._foreseen):
            self._foreseen = self._foreseen[int(np.searchsorted(self._foreseen, close, side="right")) :]

    def batches_may_wait(self, close: NDArray[np.float64], sizes: NDArray[np.intp]) -> int:
        """How many of these consecutive batches (closing at ``close``, holding ``sizes`` readings) can be held,
        each judged by ``batch_may_wait`` after the ones before it were held."""
        due = int(np.searchsorted(close, min(self._chain_due, self._next_change), side="left"))
        before = self._held_readings + np.cumsum(sizes[:due]) - sizes[:due]  # held readings before each batch
        full = int(np.searchsorted(before, MAX_BLOCK_READINGS, side="left"))  # before < MAX_BLOCK_READINGS
        return max(0, min(due, full, self._cap - self._held_batches))

    def tick_may_wait(self, at: float) -> bool:
        """Whether the tick at ``at`` is certain to do nothing (so it can be held with the batches around it)."""
        if at >= self._chain_due:
            return False
        if at < self._ticks_clear_until:
            return True  # before the assessment's next update at that check, and nothing has run since
        assessment = self._chain.assessment
        self._fold_heard()
        core = self._chain.pipeline.detector
        liveness = core.liveness
        watched = ~liveness.offline & ~np.isnan(self._heard)
        if watched.any() and bool(np.any(at - self._heard[watched] > self._limit[watched])):
            return False  # a device may fall silent (counting only what was heard before the tick)
        first_seen = core.quality.first_seen
        if not np.isnan(first_seen).all() and at - float(np.nanmin(first_seen)) >= CAPTURE_HISTORY_S:
            return False
        quiet_until = math.inf if assessment is None else assessment.quiet_until()
        if at >= quiet_until:
            return False  # the assessment's update is due
        self._ticks_clear_until = min(self._clear_until(at, watched, first_seen), quiet_until - TICK_MARGIN_S)
        return True

    def _clear_until(self, at: float, watched: NDArray[np.bool_], first_seen: NDArray[np.float64]) -> float:
        """The time before which a later tick passes every check of ``tick_may_wait`` too.

        Until the next ``refresh`` nothing runs: the offline flags, first-seen times, conditions and the
        assessment's schedule stay, a device's last time heard only grows, and a device first heard in a batch
        held after this tick was heard after it (the batch closed after it). So a tick passes while it is before
        every watched device's last time heard plus its limit, this tick plus the limit of every device not yet
        heard, and a day after the first reading.
        """
        with np.errstate(invalid="ignore"):
            heard = np.where(watched, self._heard + self._limit, np.inf)
            unheard = ~self._chain.pipeline.detector.liveness.offline & ~watched
            fresh = np.where(unheard, at + self._limit, np.inf)
        until = float(np.fmin(heard, fresh).min(initial=math.inf))
        if not np.isnan(first_seen).all():
            until = min(until, float(np.nanmin(first_seen)) + CAPTURE_HISTORY_S)
        return until - TICK_MARGIN_S if not math.isnan(until) else -math.inf

    def defer_batch(self, close: float, readings: ReadingBatch) -> None:
        """Hold a batch (call ``batch_may_wait`` first)."""
        step = _Batch(close, readings)
        self._steps.append(step)
        self._held_readings += len(readings)
        self._held_batches += 1
        self._unheard.append(step)

    @property
    def ticks_clear_until(self) -> float:
        """Ticks before this time may wait (``tick_may_wait`` is true for them without a full check)."""
        return min(self._ticks_clear_until, self._chain_due)

    def defer_span(
        self,
        close: NDArray[np.float64],
        sizes: NDArray[np.intp],
        readings: ReadingBatch,
        ticks: NDArray[np.float64] = _NO_TICKS,
        tick_after: NDArray[np.intp] = _NO_TICKS_AFTER,
    ) -> None:
        """Hold consecutive batches (call ``batches_may_wait`` first): batch ``k`` holds the next ``sizes[k]`` of
        ``readings`` and closed at ``close[k]``; and the ticks at ``ticks`` (before ``ticks_clear_until``), tick
        ``j`` after ``tick_after[j]`` of the batches."""
        step = _Span(close, sizes, readings, ticks, tick_after)
        self._steps.append(step)
        self._held_readings += len(readings)
        self._held_batches += len(close)
        self._unheard.append(step)

    def defer_tick(self, at: float) -> None:
        """Hold a tick (call ``tick_may_wait`` first)."""
        self._steps.append(_Tick(at))

    @property
    def holding(self) -> bool:
        """Whether anything is held."""
        return bool(self._steps)

    # ---- running

    async def settle(self) -> None:
        """Run everything held, in time order, as live would have."""
        steps, self._steps, self._held_readings, self._held_batches = self._steps, [], 0, 0
        await self._run(steps)
        self.refresh()

    async def _run(self, steps: Sequence[_Step]) -> None:
        held = [step for step in steps if isinstance(step, _Batch) or (isinstance(step, _Span) and len(step.close))]
        if not held:  # ticks only (a span may hold ticks and no batch)
            for single in _one_by_one(steps):
                if isinstance(single, _Tick):
                    await self.run_tick(single.at)
            return
        n_batches = sum(1 if isinstance(step, _Batch) else len(step.close) for step in held)
        if n_batches < MIN_BLOCK_BATCHES:
            # Too few to be worth a trial (a busy stretch holds few): they run as live, with their ticks in place.
            self._cap = min(self._cap * 2, MAX_BLOCK_BATCHES)
            for single in _one_by_one(steps):
                if isinstance(single, _Batch):
                    await self.run_batch(single.close, single.readings)
                else:
                    await self.run_tick(single.at)
            return
        trial = self._try_block(held)
        if trial is None:
            self.blocks += 1
            self._cap = min(self._cap * 2, MAX_BLOCK_BATCHES)
            assessment = self._chain.assessment
            for step in steps:
                if assessment is None:
                    break
                # Idle or not due: it only keeps its schedule (the window holds the block).
                for at in (
                    step.ticks.tolist() if isinstance(step, _Span) else [step.at] if isinstance(step, _Tick) else []
                ):
                    assessment.tick(at)
            return
        first_change, foreseen = trial
        singles = _one_by_one(steps)
        # Whatever changed happened at a reading's time or a batch's close, never after the close of the batch
        # that caused it: the batches that closed before the first change were quiet, and are one block.
        quiet = next(
            (i for i, step in enumerate(singles) if isinstance(step, _Batch) and step.close >= first_change), 0
        )
        if any(isinstance(step, _Batch) for step in singles[:quiet]):
            await self._run(singles[:quiet])  # quiet, so it runs as one block (or, if short, one by one)
            self.refresh()
            singles = singles[quiet:]
        if len(foreseen):
            # The trial saw which batches held the readings that changed something: each of them runs alone, the
            # batches between them are held again (and tried: what runs alone changes the state a trial starts
            # from). A batch foreseen wrongly only costs a trial; the held stretches get shorter each time.
            self._foreseen = foreseen
            self._cap = max(n_batches, MIN_BLOCK_BATCHES)
            await self._feed(singles)
            return
        self._cap = 1  # nothing foreseen: hold little, then more while it stays quiet
        # The first batch that may have changed something runs alone (with the ticks before it); the rest is held
        # again step by step, each step judged against the state that batch left.
        alone = next(i for i, step in enumerate(singles) if isinstance(step, _Batch))
        for step in singles[: alone + 1]:
            if isinstance(step, _Batch):
                await self.run_batch(step.close, step.readings)
            else:
                await self.run_tick(step.at)
            self.refresh()
        await self._feed(singles[alone + 1 :])

    async def _feed(self, steps: list[_Single]) -> None:
        """Hold what may wait, run what may not (after what is held), then run the rest."""
        for step in steps:
            if isinstance(step, _Batch):
                if self.batch_may_wait(step.close):
                    self.defer_batch(step.close, step.readings)
                    continue
                await self.settle()
                await self.run_batch(step.close, step.readings)
            else:
                if self.tick_may_wait(step.at):
                    self.defer_tick(step.at)
                    continue
                await self.settle()
                await self.run_tick(step.at)
            self.refresh()
        await self.settle()

    async def run_batch(self, close: float, readings: ReadingBatch) -> None:
        """One batch through the pipeline at its close time, exactly as live."""
        self.single_batches += 1
        self._clock.set(close)
        self._chain.pipeline.process(readings, close)
        self.passed(close)
        await self._after_step()

    async def run_tick(self, at: float) -> None:
        """One timer tick, exactly as live."""
        self._clock.set(at)
        self._chain.pipeline.tick(at)
        if self._chain.assessment is not None:
            self._chain.assessment.tick(at)
        await self._after_step()

    def _try_block(self, held: list[_Held]) -> tuple[float, NDArray[np.float64]] | None:
        """Run the held batches' readings as one block: None when it was quiet (and is done); else nothing changed,
        and this is the earliest time at which something happened (-inf: unknown) and the close times of the
        batches whose readings changed something (empty: unknown)."""
        pipeline = self._chain.pipeline
        readings = ReadingBatch.concat([step.readings for step in held])
        closes, sizes = _closes_and_sizes(held)
        received = np.repeat(closes, sizes)
        if out_of_order_or_repeated(readings):
            return -math.inf, _NO_TICKS
        if pipeline.seen.any_seen_readings(readings.sensor, readings.time):
            return -math.inf, _NO_TICKS  # a repeated reading: the batches one by one drop it where it repeats
        core = pipeline.detector
        kept = _copy_core(core)
        rules = pipeline.flow.state.rules
        levels = rules.level_states()
        result = core.process(readings, received_at=received)
        if any(len(events) for events in result.conditions):
            pipeline.detector = kept
            sensor = np.concatenate([events.sensor for events in result.conditions])
            time = np.concatenate([events.time for events in result.conditions])
            return float(time.min()), _closes_of(readings, received, sensor, time)
        flagged = ReadingBatch(readings.sensor, readings.time, readings.value, result.flags)
        level_events = rules.level_events(flagged, flagged.valid_mask(), result.sorted_batch)
        if level_events:
            pipeline.detector = kept
            rules.restore_level_states(levels)
            sensor = np.array([event.sensor for event in level_events], np.int64)
            time = np.array([event.time for event in level_events], np.float64)
            return float(time.min()), _closes_of(readings, received, sensor, time)
        # Quiet: what the batches one by one would have left behind, in the order they would have left it.
        _remember_by_batch(pipeline.seen, readings, sizes)
        self._clock.set(float(closes[-1]))
        pipeline.after_detection(flagged)
        self.passed(float(closes[-1]))
        return None


def out_of_order_or_repeated(readings: ReadingBatch) -> bool:
    """Whether a sensor's readings are out of time order (the core sorts a block, the batches do not), or one
    reading (sensor and time to the microsecond, as ``reading_keys``) comes twice (the batches one by one drop it
    where it repeats): such a block cannot stand for its batches."""
    by_sensor = np.argsort(readings.sensor, kind="stable")
    sensor, time = readings.sensor[by_sensor], readings.time[by_sensor]
    same_sensor = sensor[1:] == sensor[:-1]
    if bool(np.any(same_sensor & (time[1:] < time[:-1]))):
        return True
    micros = np.rint(time * 1e6)  # in time order, a sensor's repeats are neighbours
    return bool(np.any(same_sensor & (micros[1:] == micros[:-1])))


def _closes_of(
    readings: ReadingBatch, received: NDArray[np.float64], sensor: NDArray[np.integer], time: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The close times (``received``, per reading) of the batches holding the readings of ``sensor`` at ``time``
    (a change is found at the reading that caused it, which may come batches after its time), sorted and unique;
    empty when one of them is not a reading of the block."""
    wanted = np.zeros(int(max(int(readings.sensor.max()), int(sensor.max()))) + 1, np.bool_)
    wanted[sensor] = True
    rows = np.flatnonzero(wanted[readings.sensor])
    order = np.lexsort((readings.time[rows], readings.sensor[rows]))  # by sensor, then time
    rows = rows[order]
    by_sensor, by_time = readings.sensor[rows], readings.time[rows]
    first = np.searchsorted(by_sensor, sensor, side="left")
    last = np.searchsorted(by_sensor, sensor, side="right")
    closes = []
    for lo, hi, at in zip(first.tolist(), last.tolist(), time.tolist(), strict=True):
        i = lo + int(np.searchsorted(by_time[lo:hi], at, side="left"))
        if i >= hi or by_time[i] != at:
            return _NO_TICKS
        closes.append(received[rows[i]])
    return np.unique(np.array(closes, np.float64))


def _remember_by_batch(seen: SeenReadings, readings: ReadingBatch, sizes: NDArray[np.intp]) -> None:
    """Remember the block's keys as its batches one by one would have: batches added together while the current
    generation has room for them all (no generation turns over: one addition is the same as many), and the batch
    that turns it over alone. The block is in time order without repeats (``out_of_order_or_repeated``), so when
    its readings are later than anything remembered they go in as ``remember_new`` (no set members built yet)."""
    ends = np.cumsum(sizes)
    start, done = 0, 0  # batches, keys remembered
    while start < len(ends):
        fit = int(np.searchsorted(ends, done + seen.room(), side="right"))  # batches whose keys all fit
        stop = max(fit, start + 1)
        end = int(ends[stop - 1])
        sensor, time = readings.sensor[done:end], readings.time[done:end]
        if not seen.remember_new(sensor, time):
            seen.remember_keys(reading_keys(sensor, time), sensor, time)
        start, done = stop, end


def _copy_core(core: DetectionCore) -> DetectionCore:
    """A copy of the detectors' carried state; the configuration (read-only, and most of the bytes) is shared."""
    memo: dict[int, object] = {id(core.config): core.config}
    for value in vars(core.config).values() if hasattr(core.config, "__dict__") else ():
        memo[id(value)] = value
    for name in getattr(type(core.config), "__slots__", ()):
        value = getattr(core.config, name)
        memo[id(value)] = value
    return copy.deepcopy(core, memo)
