"""Replay a recording through the live processing chain as a drill, on the recording's clock, at any speed.

Every message goes through ``Intake.accept`` (codec, batching, pipeline, alarms, store) with a ``ManualClock``
set to the message's receive time; every stored row is marked ``drill``. The file is streamed, never loaded
whole. At a finite speed the wall time is paced to recording time / speed; at ``max`` it runs flat out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from numpy.typing import NDArray
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.assessment.summary import estimates_of
from daemon.chain.build import DrillChain, build_drill_chain
from daemon.clock import Clock, ManualClock
from daemon.config import ServiceConfig
from daemon.drills import runs
from daemon.drills.block_replay import BlockRunner
from daemon.drills.columnar import ColumnarReader, is_columnar
from daemon.drills.console_feedback import ConsoleFeedback
from daemon.drills.delivery import DrillDelivery
from daemon.drills.progress import Progress
from daemon.drills.recording import RecordedMessage, RecordingError, RecordingReader
from daemon.drills.report_map import map_layers
from daemon.errors import HazwatchError
from daemon.ingest.senml import BatchBuilder
from daemon.metrics.instruments import Metrics
from daemon.store.engine import create_engine, migrate
from daemon.store.schema import reading_chunks
from detectors.readings import ReadingBatch
from rules.sensor_table import SensorTable
from rules.site import Site

log = logging.getLogger(__name__)

YIELD_EVERY_MESSAGES = 1000  # let the store writer run
BACKPRESSURE_EVERY_MESSAGES = 20_000  # wait for the database so queued rows (and memory) stay bounded
PACE_SLACK_S = 0.01
SEGMENT_MESSAGES = 5000  # messages decoded ahead at a time by the block replay
FEEDBACK_POLL_WALL_S = 1.0  # how often a paced drill looks for the duty team's console actions (wall seconds)


class ReplayError(HazwatchError):
    """A replay cannot run (bad file, site mismatch)."""


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """How to replay: ``speed`` None means as fast as possible."""

    speed: float | None = None
    start: float | None = None
    end: float | None = None
    store_readings: bool | None = None
    source_label: str | None = None
    # Batch window on the recording's clock; None: the live window (ingest.batch_max_delay_s), so every message is
    # judged when live would have judged it. A coarser window replays long recordings faster, at the cost of
    # alarm, incident and page times up to one window late; a batch still closes at every timer tick.
    batch_window_s: float | None = None
    # At max speed, quiet stretches (no condition changes, no timer due) run through the detectors as one block
    # (``daemon.drills.block_replay``): the same alarms, incidents and pages at the same times, at a fraction of
    # the cost. False: every batch through the pipeline on its own (the reference the blocks are tested against).
    blocks: bool = True


@dataclass(frozen=True, slots=True)
class Baseline:
    """Highest reading chunk id before the drill: readings carry no run id, so the report takes this run's
    from the chunks above it (drill-marked, within the run's time span)."""

    reading_chunk_id: int


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay did."""

    run_id: int
    header: dict[str, Any]
    baseline: Baseline
    messages: int
    readings: int
    sim_start: float
    sim_end: float
    wall_seconds: float
    drill_routes: tuple[str, ...] = ()  # the drill routes the pages were delivered to; empty: console only
    assessments: dict[str, dict[str, Any]] = field(default_factory=dict)  # last release estimate per gas
    map_layers: dict[str, Any] = field(default_factory=dict)  # site layout and threat zones for the report's map
    # Block replay (max speed): how many quiet stretches ran as one block, and how many batches ran alone.
    blocks: int = 0
    single_batches: int = 0


@dataclass(frozen=True, slots=True)
class _Segment:
    """A stretch of a recording for the block replay: readings in receive order with each one's receive time, the
    messages that must go through the codec, and how many messages the stretch held."""

    readings: ReadingBatch
    received: NDArray[np.float64]
    raw: list[RecordedMessage]
    messages: int


@dataclass(frozen=True, slots=True)
class _Seams:
    """What a replay takes from outside: the wall clock, how to wait for it, and the environment (channel secrets)."""

    wall: Clock
    sleep: Callable[[float], Awaitable[None]]
    environ: Mapping[str, str]


async def capture_baseline(engine: AsyncEngine) -> Baseline:
    """Highest reading chunk id before the drill."""
    async with engine.connect() as connection:
        return Baseline(int((await connection.execute(select(func.max(reading_chunks.c.id)))).scalar() or 0))


def readings_counted(metrics: Metrics) -> int:
    """Readings the pipeline has accepted so far (from the metrics registry)."""
    return int(metrics.registry.get_sample_value("hazwatch_ingest_readings_total") or 0)


class Replayer:
    """Feeds one recording through a processing chain, judging every message at the time the live service would.

    Live, a batch closes ``batch_max_delay_s`` after its first message and the alarm timers run every
    ``tick_interval_s``. A replay does the same on the recording's clock: before each message it closes the batches
    and runs the timer ticks that fell due before it, each with the clock set to its own time, so alarms, incidents
    and pages carry the times they would have carried live, whatever the recording's form and speed.
    """

    def __init__(
        self,
        chain: DrillChain,
        clock: ManualClock,
        wall: Clock,
        table: SensorTable,
        options: ReplayOptions,
        progress: Progress,
        metrics: Metrics,
        tick_interval_s: float,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        delivery: DrillDelivery | None = None,
        feedback: ConsoleFeedback | None = None,
    ) -> None:
        self._metrics = metrics
        self._feedback = feedback if options.speed is not None else None  # at max speed nobody is in the loop
        self._next_poll = -math.inf
        self._sleep = sleep
        self._delivery = delivery
        self._chain = chain
        self._clock = clock
        self._wall = wall
        self._table = table
        self._options = options
        self._progress = progress
        self.messages = 0
        self.readings = 0
        self.sim_start: float | None = None
        self.sim_end: float | None = None
        self._wall_start = 0.0
        self._tick_interval = tick_interval_s
        self._next_tick = math.inf
        self._window = options.batch_window_s or chain.intake.batch_window
        self.blocks = 0  # quiet stretches run as one block (block replay only)
        self.single_batches = 0  # batches of a block replay that ran alone

    def _in_range(self, received: float) -> bool:
        start, end = self._options.start, self._options.end
        return (start is None or received >= start) and (end is None or received < end)

    def _readings_done(self) -> int:
        return readings_counted(self._metrics)

    async def _pace(self, at: float) -> None:
        """Wait until the wall clock reaches recording time ``at`` at the chosen speed."""
        speed = self._options.speed
        if speed is None or self.sim_start is None:
            return
        ahead = self._wall_start + (at - self.sim_start) / speed - self._wall.now()
        if ahead > PACE_SLACK_S:
            await self._sleep(ahead)

    def _begin(self, received: float) -> None:
        """At the first message: the replay's start, its wall-clock anchor and its first timer tick."""
        if self.sim_start is None:
            self.sim_start = received
            self._wall_start = self._wall.now()
            self._next_tick = received + self._tick_interval

    async def _arrive(self, received: float) -> None:
        """A message arrives at ``received``: first run everything live would have run before it."""
        self._begin(received)
        await self._advance(received)
        self.sim_end = received

    async def _advance(self, until: float) -> None:
        """Close the batches and run the timer ticks due up to ``until``, in time order, each at its own time."""
        intake = self._chain.intake
        while True:
            opened = intake.batch_opened_at
            close = math.inf if opened is None else opened + self._window
            due = min(close, self._next_tick)
            if due > until:
                break
            await self._pace(due)
            self._clock.set(due)
            if close <= self._next_tick:
                intake.flush()
            else:
                await self._console_actions(due)
                if self._window > self._tick_interval:
                    # A window wider than a tick: the timers must still see every reading received before them,
                    # or silence detection would take readings still waiting in the batch for a dead device.
                    intake.flush()
                self._chain.pipeline.tick(due)
                if self._chain.assessment is not None:
                    self._chain.assessment.tick(due)
                self._next_tick = due + self._tick_interval
            if self._delivery is not None and self._delivery.queued:
                await self._delivery.settle()  # pages are sent at the recording time they were raised at
        await self._pace(until)
        self._clock.set(max(until, self._clock.now()))

    async def _console_actions(self, now: float) -> None:
        """Before a timer tick: the duty team's new console actions reach the engines (paced drills only)."""
        if self._feedback is None or self._wall.now() < self._next_poll:
            return
        self._next_poll = self._wall.now() + FEEDBACK_POLL_WALL_S
        await self._chain.writer.flush()  # the engines' rows the console may act on are in the database
        await self._feedback.poll(now)

    async def _finish(self) -> None:
        """Close the last batch at its own time and run the timers once more."""
        intake = self._chain.intake
        opened = intake.batch_opened_at
        if opened is not None:
            await self._advance(opened + self._window)
        intake.flush()
        self._chain.pipeline.tick(self._clock.now())
        if self._chain.assessment is not None:
            self._chain.assessment.tick(self._clock.now())
        if self._delivery is not None and self._delivery.queued:
            await self._delivery.settle()

    async def _breathe(self) -> None:
        if self.messages % BACKPRESSURE_EVERY_MESSAGES == 0:
            await self._chain.writer.flush()
        elif self.messages % YIELD_EVERY_MESSAGES == 0:
            await asyncio.sleep(0)
        if self._progress.due():
            self._progress.update(self._readings_done(), self._clock.now())

    async def run_messages(self, messages: Iterator[RecordedMessage]) -> None:
        """Replay recorded messages one by one, each judged at its own receive time."""
        if self._blocks_apply():
            await self._run_segments_in_blocks(self._decoded_segments(messages))
            return
        intake = self._chain.intake
        for message in messages:
            if not self._in_range(message.received):
                if self._options.end is not None and message.received >= self._options.end:
                    break
                continue
            await self._arrive(message.received)
            intake.accept(message.topic, message.payload, message.received)
            self.messages += 1
            await self._breathe()
        await self._finish()

    def _blocks_apply(self) -> bool:
        """Whether quiet stretches may run as blocks: at max speed (nobody acts on the console meanwhile) and with
        batches no wider than a tick (a wider window flushes at ticks, which blocks do not model)."""
        return self._options.blocks and self._options.speed is None and self._window <= self._tick_interval

    async def run_chunks(self, reader: ColumnarReader) -> None:
        """Replay a columnar recording: readings join batches by their receive time, exactly as their messages
        would (same windows, same clock), so the result equals the JSON Lines replay of the same data."""
        if self._blocks_apply():
            await self._run_segments_in_blocks(self._chunk_segments(reader))
            return
        intake = self._chain.intake
        for segment in self._chunk_segments(reader):
            batch, received, raw = segment.readings, segment.received, segment.raw
            n = len(received)
            self.messages += segment.messages
            i, m = 0, 0
            while i < n or m < len(raw):
                next_reading = float(received[i]) if i < n else math.inf
                if m < len(raw) and raw[m].received < next_reading:
                    message = raw[m]
                    await self._arrive(message.received)
                    intake.accept(message.topic, message.payload, message.received)
                    m += 1
                    continue
                await self._arrive(next_reading)
                opened = intake.batch_opened_at
                close = (next_reading if opened is None else opened) + self._window
                # Everything received before the batch closes joins it, as the messages would have; a raw message
                # in between is accepted in its place first.
                limit = min(close, raw[m].received) if m < len(raw) else close
                j = max(i + 1, int(np.searchsorted(received, limit, side="left")))
                intake.accept_decoded(batch.take(slice(i, j)))
                self.sim_end = float(received[j - 1])
                i = j
            await self._chain.writer.flush()  # one chunk is a large write group: keep one in flight
            if self._progress.due():
                self._progress.update(self._readings_done(), self._clock.now())
        await self._finish()

    # ---- quiet stretches as blocks (max speed)

    def _chunk_segments(self, reader: ColumnarReader) -> Iterator[_Segment]:
        """A columnar recording's chunks, limited to the replayed span, in the site's sensor numbers."""
        remap = self._sensor_remap(reader.sensor_ids)
        for chunk in reader:
            if self._options.end is not None and chunk.first_received >= self._options.end:
                break
            batch, received = chunk.readings, chunk.received
            if self._options.start is not None or self._options.end is not None:
                mask = (received >= (self._options.start or -math.inf)) & (received < (self._options.end or math.inf))
                batch, received = batch.take(mask), received[mask]
            if remap is not None:
                batch = ReadingBatch(remap[batch.sensor], batch.time, batch.value, batch.flags)
            raw = [m for m in chunk.messages if self._in_range(m.received)]
            n = len(received)
            # A reading's message is the run of readings with its receive time.
            messages = len(raw) + (int(np.count_nonzero(np.diff(received))) + 1 if n else 0)
            yield _Segment(batch, received, raw, messages)

    def _decoded_segments(self, messages: Iterator[RecordedMessage]) -> Iterator[_Segment]:
        """Recorded messages decoded ahead, a few thousand at a time: a message that is plain readings becomes its
        readings with its receive time (what the intake would have decoded); any other (device status, input the
        codec rejects or that holds no reading) stays a message and goes through the intake in its batch."""
        decoder = self._chain.intake.decoder
        builder = BatchBuilder()
        received: list[float] = []
        raw: list[RecordedMessage] = []
        count = 0
        for message in messages:
            if not self._in_range(message.received):
                if self._options.end is not None and message.received >= self._options.end:
                    break
                continue
            count += 1
            start = len(builder)
            try:
                result = decoder.decode(message.topic, message.payload, message.received, builder)
                plain = not result.rejections and result.status is None and len(builder) > start
            except Exception:  # the intake decodes it again, and quarantines it as live would
                plain = False
            if plain:
                received.extend([message.received] * (len(builder) - start))
            else:
                builder.truncate(start)
                raw.append(message)
            if count >= SEGMENT_MESSAGES:
                yield _Segment(builder.build(), np.array(received, np.float64), raw, count)
                builder, received, raw, count = BatchBuilder(), [], [], 0
        if count:
            yield _Segment(builder.build(), np.array(received, np.float64), raw, count)

    async def _run_segments_in_blocks(self, segments: Iterator[_Segment]) -> None:
        """``run_chunks``/``run_messages`` with the batches and ticks that change nothing held and run as blocks
        (``daemon.drills.block_replay``): the batches are formed exactly as there (same windows, same close
        times), only their processing is grouped."""
        self._runner = BlockRunner(self._chain, self._clock, self._after_step)
        self._open_at: float | None = None
        self._open_parts: list[ReadingBatch] = []
        self._open_raw: list[RecordedMessage] = []
        self._now = self._clock.now()
        for segment in segments:
            batch, received, raw = segment.readings, segment.received, segment.raw
            n = len(received)
            self.messages += segment.messages
            i, m = 0, 0
            while i < n or m < len(raw):
                next_reading = float(received[i]) if i < n else math.inf
                if m < len(raw) and raw[m].received < next_reading:
                    await self._arrive_in_blocks(raw[m].received)
                    if self._open_at is None:
                        self._open_at = raw[m].received
                    self._open_raw.append(raw[m])
                    m += 1
                    continue
                if not self._open_raw:
                    # Up to the next raw message (readings received with it go first), in bulk.
                    end = n if m == len(raw) else int(np.searchsorted(received, raw[m].received, side="right"))
                    await self._hold_readings(batch, received, i, end)
                    i = end
                    continue
                await self._arrive_in_blocks(next_reading)
                if self._open_at is None:
                    self._open_at = next_reading
                close = self._open_at + self._window
                limit = min(close, raw[m].received) if m < len(raw) else close
                j = max(i + 1, int(np.searchsorted(received, limit, side="left")))
                self._open_parts.append(batch.take(slice(i, j)))
                self.sim_end = float(received[j - 1])
                i = j
            await self._chain.writer.flush()  # one segment can be a large write group: keep one in flight
            if self._progress.due():
                self._progress.update(self._readings_done(), self._now)
        if self._open_at is not None:
            await self._advance_in_blocks(self._open_at + self._window)
        await self._runner.settle()
        self._clock.set(self._now)
        await self._finish()
        self.blocks, self.single_batches = self._runner.blocks, self._runner.single_batches
        log.info("replayed %d quiet stretches as blocks, %d batches on their own", self.blocks, self.single_batches)

    async def _arrive_in_blocks(self, received: float) -> None:
        self._begin(received)
        await self._advance_in_blocks(received)
        self.sim_end = received

    async def _advance_in_blocks(self, until: float) -> None:
        """``_advance``: the closes and ticks due up to ``until`` in time order, held while they change nothing."""
        while True:
            close = math.inf if self._open_at is None else self._open_at + self._window
            due = min(close, self._next_tick)
            if due > until:
                break
            self._now = due
            if close <= self._next_tick:
                await self._close_in_blocks(close)
            else:
                await self._tick_in_blocks(due)
        self._now = max(until, self._now)

    async def _tick_in_blocks(self, due: float) -> None:
        runner = self._runner
        if runner.tick_may_wait(due):
            runner.defer_tick(due)
        else:
            await runner.settle()
            await runner.run_tick(due)
            runner.refresh()
        self._next_tick = due + self._tick_interval

    async def _hold_readings(self, batch: ReadingBatch, received: NDArray[np.float64], i: int, end: int) -> None:
        """``_arrive_in_blocks`` and ``_close_in_blocks`` for readings ``i:end`` of a segment at once (no raw
        message among them or in the open batch): the same batches (same members, same close times) and the
        same ticks between them, in the same order, with the runs of batches that may wait held as spans."""
        self._begin(float(received[i]))
        window = self._window
        parts = self._open_parts
        combined = ReadingBatch.concat([*parts, batch.take(slice(i, end))])
        shift = len(combined) - (end - i)  # readings of the open batch before reading i
        closes: list[float] = []
        starts: list[int] = [0]  # in ``combined``; the last batch stays open
        s = i
        if self._open_at is not None:
            close = self._open_at + window
            s = min(max(int(np.searchsorted(received, close, side="left")), i), end)
            if s < end:  # a reading at or after its close arrives: the open batch closes
                closes.append(close)
                starts.append(shift + s - i)
        if s < end:
            # A batch opens at its first reading and takes every reading received before it closes.
            base = s
            opened = received[base:end]
            after = np.maximum(np.searchsorted(received, opened + window, side="left"), np.arange(base + 1, end + 1))
            next_start, opened_at = after.tolist(), opened.tolist()
            while (t := next_start[s - base]) < end:
                closes.append(opened_at[s - base] + window)
                starts.append(shift + t - i)
                s = t
        if self._open_at is None or closes:
            self._open_at = float(received[s])
        until = float(received[s]) if closes or s < end else float(received[i])  # the last arrival
        close_at = np.array(closes, np.float64)
        bounds = np.array(starts, np.intp)
        sizes = np.diff(bounds)
        runner = self._runner
        k = 0
        while True:
            tick = self._next_tick
            if tick <= until and tick < runner.ticks_clear_until:
                # Ticks certain to do nothing: held with the batches around them when those may all wait too.
                clear, ticks = min(runner.ticks_clear_until, math.nextafter(until, math.inf)), [tick]
                while (at := ticks[-1] + self._tick_interval) < clear:
                    ticks.append(at)
                upto = int(np.searchsorted(close_at, ticks[-1], side="right"))
                if runner.batches_may_wait(close_at[k:upto], sizes[k:upto]) == upto - k:
                    tick_at = np.array(ticks)
                    runner.defer_span(
                        close_at[k:upto],
                        sizes[k:upto],
                        combined.take(slice(bounds[k], bounds[upto])),
                        tick_at,
                        np.searchsorted(close_at[k:upto], tick_at, side="right"),
                    )
                    k, self._now, self._next_tick = upto, ticks[-1], at
                    continue
            upto = int(np.searchsorted(close_at, tick, side="right")) if tick <= until else len(close_at)
            while k < upto:  # the batches closing before the tick (a close at the tick comes first)
                held = runner.batches_may_wait(close_at[k:upto], sizes[k:upto])
                if held:
                    runner.defer_span(
                        close_at[k : k + held], sizes[k : k + held], combined.take(slice(bounds[k], bounds[k + held]))
                    )
                    k += held
                if k < upto:
                    await runner.settle()
                    await runner.run_batch(float(close_at[k]), combined.take(slice(bounds[k], bounds[k + 1])))
                    runner.refresh()
                    k += 1
            if tick > until:
                break
            self._now = tick
            await self._tick_in_blocks(tick)
        self._open_parts = [combined.take(slice(int(bounds[-1]), None))]
        self._now = max(until, self._now)
        self.sim_end = float(received[end - 1])

    async def _close_in_blocks(self, close: float) -> None:
        runner = self._runner
        opened, parts, raw = self._open_at, self._open_parts, self._open_raw
        self._open_at, self._open_parts, self._open_raw = None, [], []
        if raw:
            # Raw messages (device status, bad input) go through the codec: the batch runs through the intake.
            await runner.settle()
            intake = self._chain.intake
            self._clock.set(opened if opened is not None else close)
            for message in raw:
                intake.accept(message.topic, message.payload, message.received)
            for part in parts:
                intake.accept_decoded(part)
            self._clock.set(close)
            intake.flush()
            runner.passed(close)
            await self._after_step()
            runner.refresh()
            return
        readings = ReadingBatch.concat(parts) if len(parts) > 1 else parts[0]
        if runner.batch_may_wait(close):
            runner.defer_batch(close, readings)
        else:
            await runner.settle()
            await runner.run_batch(close, readings)
            runner.refresh()

    async def _after_step(self) -> None:
        if self._delivery is not None and self._delivery.queued:
            await self._delivery.settle()  # pages are sent at the recording time they were raised at

    def _sensor_remap(self, sensor_ids: list[str]) -> np.ndarray | None:
        table_ids = [s.id for s in self._table.sensors]
        if sensor_ids == table_ids:
            return None
        missing = [s for s in sensor_ids if s not in self._table.index]
        if missing:
            raise ReplayError(f"the recording has sensors the site file lacks: {', '.join(missing[:10])}")
        return np.array([self._table.index[s] for s in sensor_ids], np.int32)


async def replay_recording(
    path: Path,
    config: ServiceConfig,
    site: Site,
    options: ReplayOptions,
    *,
    wall: Clock,
    registry: CollectorRegistry | None = None,
    progress_stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> ReplayResult:
    """Replay ``path`` as a drill into ``config.database.url``; returns what ran (the caller builds the report).

    ``environ`` holds the channel secrets of the drill routes (default: the process environment); ``sleep`` is
    how pacing waits for ``wall`` (tests pass one that moves a manual wall clock).
    """
    seams = _Seams(wall, sleep, os.environ if environ is None else environ)
    try:
        columnar = is_columnar(path)
    except OSError as exc:
        raise ReplayError(f"{path}: cannot open the recording: {exc.strerror}") from exc
    try:
        source: ColumnarReader | RecordingReader = ColumnarReader(path) if columnar else RecordingReader(path)
    except RecordingError as exc:
        raise ReplayError(str(exc)) from exc
    with source:
        header = source.header
        recorded_site = header.get("site")
        if recorded_site is not None and recorded_site != site.site:
            raise ReplayError(f"{path} was recorded for site {recorded_site!r}, the site file is {site.site!r}")
        truth = header.get("ground_truth") or {}
        engine = create_engine(config.database.url)
        try:
            return await _run(
                path, source, header, truth, engine, config, site, options, seams, registry, progress_stream
            )
        finally:
            await engine.dispose()


async def _run(
    path: Path,
    source: ColumnarReader | RecordingReader,
    header: dict[str, Any],
    truth: dict[str, Any],
    engine: AsyncEngine,
    config: ServiceConfig,
    site: Site,
    options: ReplayOptions,
    seams: _Seams,
    registry: CollectorRegistry | None,
    progress_stream: TextIO | None,
) -> ReplayResult:
    await migrate(engine)
    wall = seams.wall
    table = SensorTable.build(site)
    metrics = Metrics(registry if registry is not None else CollectorRegistry())
    start_hint: float = options.start if options.start is not None else float(truth.get("start") or 0.0)
    clock = ManualClock(start_hint)
    baseline = await capture_baseline(engine)
    speed_label = "max" if options.speed is None else f"{options.speed:g}"
    wall_start = wall.now()
    run_id = await runs.open_run(engine, options.source_label or str(path), speed_label, wall_start)
    heartbeat = asyncio.create_task(_heartbeat(engine, run_id, wall), name="drill-heartbeat")
    status = "failed"
    replayer: Replayer | None = None
    metrics.drill_running.set(1)
    try:
        chain = await build_drill_chain(
            config, table, engine, metrics, clock, run_id=run_id, store_readings=options.store_readings
        )
        delivery = DrillDelivery(config, table, chain, engine, clock, metrics, run_id, seams.environ)
        writer_task = asyncio.create_task(chain.writer.run(), name="drill-store-writer")
        delivery.start()
        progress = Progress(progress_stream, wall, options.end or truth.get("end"))
        replayer = Replayer(
            chain,
            clock,
            wall,
            table,
            options,
            progress,
            metrics,
            config.alarms.tick_interval_s,
            sleep=seams.sleep,
            delivery=delivery,
            feedback=ConsoleFeedback(engine, run_id, lambda: chain.pipeline.flow),
        )
        log.info("drill run %d: replaying %s at speed %s", run_id, path, speed_label)
        try:
            if isinstance(source, ColumnarReader):
                await replayer.run_chunks(source)
            else:
                await replayer.run_messages(iter(source))
            status = "finished"
        finally:
            chain.writer.close()
            await writer_task
            await delivery.finish(wall, config.notify.request_timeout_s * 3)
            progress.update(readings_counted(metrics), clock.now(), final=True)
    finally:
        metrics.drill_running.set(0)
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
        sim_start = replayer.sim_start if replayer is not None else None
        sim_end = replayer.sim_end if replayer is not None else None
        await runs.close_run(engine, run_id, status, wall.now(), sim_start, sim_end)
    return ReplayResult(
        run_id=run_id,
        header=header,
        baseline=baseline,
        messages=replayer.messages,
        readings=readings_counted(metrics),
        sim_start=replayer.sim_start if replayer.sim_start is not None else clock.now(),
        sim_end=replayer.sim_end if replayer.sim_end is not None else clock.now(),
        wall_seconds=wall.now() - wall_start,
        drill_routes=delivery.routes if delivery.delivers else (),
        assessments=estimates_of(chain.assessment),
        map_layers=map_layers(site, chain.assessment),
        blocks=replayer.blocks,
        single_batches=replayer.single_batches,
    )


async def _heartbeat(engine: AsyncEngine, run_id: int, wall: Clock) -> None:
    """Tell a service watching this database that the run is alive (``hazwatch_drill_running``)."""
    while True:
        await asyncio.sleep(runs.HEARTBEAT_INTERVAL_S)
        try:
            await runs.beat(engine, run_id, wall.now())
        except Exception:  # a busy or briefly unreachable database must not stop the drill
            log.warning("drill run %d: heartbeat not written", run_id, exc_info=True)
