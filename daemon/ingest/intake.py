"""Everything that arrives (live MQTT, a replayed recording, the simulator) enters here.

Messages are decoded into a growing batch; the batch goes through the pipeline when it is big
enough or old enough. Bad input is counted, stored with its raw bytes, and logged at most once
per reason per interval, and the service keeps going.

Under overload (more input waits on the connection than the pipeline takes) the intake reads ahead: up to
``lookahead_messages`` received messages wait here, oldest judged first, instead of in the socket and the broker,
where nothing can be told apart. Every message is pre-screened (``priority.Prescreen``, about 4 us). An urgent one
behind a full batch is judged at the next timer tick together with every waiting message of its device, in order,
ahead of the routine backlog; an urgent one within the next batch's worth closes that batch at once (with the messages
before it, in order) instead of waiting out the batch window or the look-ahead, so an alarm-level reading is judged
within milliseconds of its arrival. Past a burst of two, at most one batch per window closes early: a flood of
urgent messages costs at most twice the usual number of batches (``_may_close_early``). Unacknowledged messages are
bounded by the MQTT receive window, so the look-ahead is too.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

from daemon.chain.pipeline import Pipeline
from daemon.clock import Clock
from daemon.ingest.decode_pool import DecodedBatch, DecodePool, RawMessage, decode_messages
from daemon.ingest.lateness import LatenessFloor
from daemon.ingest.mqtt import Ack
from daemon.ingest.priority import Prescreen
from daemon.ingest.quarantine_budget import QuarantineBudget
from daemon.ingest.senml import DeviceStatus, Reason, Rejection, SenmlDecoder
from daemon.metrics.instruments import Metrics
from daemon.store.writer import StoreWriter
from detectors.readings import ReadingBatch

log = logging.getLogger(__name__)

StatusListener = Callable[[DeviceStatus], None]
# Share of the readings' lateness that the batch window may grow to.
LATENESS_SHARE = 0.1
# Read ahead once the data judged is this much later than its sensors' usual lateness (a backlog, not a burst): at
# normal load the socket is often readable too, and judging must not wait for the look-ahead to fill then.
# hazwatch default, tune per site.
READ_AHEAD_LATE_S = 1.0
# Urgent messages that may close their batch early in quick succession; past them, one per configured batch window
# (two urgent devices of one plume both go at once; a flood costs at most one extra batch per window). hazwatch default.
EARLY_CLOSE_BURST = 2
# After decode workers fail, batches are decoded in place this long before the workers are tried again.
POOL_RETRY_S = 30.0


class Intake:
    """Decode, batch and hand over to the pipeline."""

    def __init__(
        self,
        decoder: SenmlDecoder,
        pipeline: Pipeline,
        writer: StoreWriter,
        metrics: Metrics,
        clock: Clock,
        *,
        batch_max_messages: int,
        batch_max_delay_s: float,
        batch_max_delay_late_s: float | None = None,
        quarantine_log_interval_s: float = 60.0,
        pool: DecodePool | None = None,
        offload_min_messages: int = 100,
        quarantine_budget: QuarantineBudget | None = None,
        lookahead_messages: int | None = None,
        prescreen: Prescreen | None = None,
        lateness_rise_s: float = 600.0,
    ) -> None:
        self._decoder = decoder
        self._pipeline = pipeline
        self._writer = writer
        self._metrics = metrics
        self._clock = clock
        self._raw: list[RawMessage] = []  # messages of the open batch, decoded when it closes
        self._predecoded: list[ReadingBatch] = []  # readings of the open batch the codec already decoded (replays)
        self._acks: list[Ack | None] = []  # their broker acknowledgements (one per message), sent after commit
        self._budget = quarantine_budget or QuarantineBudget()
        self._pool = pool
        self._offload_min = offload_min_messages
        self._pool_retry_at = 0.0
        self._pool_ready = False  # workers answered: until then every batch is decoded in place (nothing waits)
        self._pool_starting: list[asyncio.Future[bool]] = []
        # Closed batches not yet through the pipeline, oldest first: decoding in a worker, or decoded in place
        # behind one that is (batches reach the pipeline in the order they were received, whoever decodes them).
        self._in_flight: deque[tuple[list[RawMessage], list[Ack], asyncio.Future[DecodedBatch] | DecodedBatch]] = (
            deque()
        )
        self.last_applied_at: float | None = None  # when a batch last went through (stall detection)
        self.behind_s: float | None = None  # judging time minus median reading time of the last batch (/healthz)
        # How much later than each sensor's usual lateness the last batch arrived (/healthz judges this).
        self.behind_excess_s: float | None = None
        self._lateness = LatenessFloor(len(pipeline.table), lateness_rise_s)
        self._batch_opened_at = 0.0
        # Early closes allowed now (up to EARLY_CLOSE_BURST, one more per configured window) and when last counted.
        self._early_credit = float(EARLY_CLOSE_BURST)
        self._early_credit_at = -math.inf
        self._urgent_held = 0  # waiting messages up to an urgent one the bound held back (0: none)
        self._max_messages = batch_max_messages
        # Messages that may wait here while more input is pending (None: a batch's worth, no look-ahead).
        self._lookahead = max(batch_max_messages, lookahead_messages or batch_max_messages)
        self.prescreen = prescreen
        self._urgent_topics: set[str] = set()  # topics whose waiting messages go next, ahead of the backlog
        # Messages from the priority lane (its own MQTT session, ``priority_lane.py``), judged next, and their acks.
        self._lane: list[RawMessage] = []
        self._lane_acks: list[Ack | None] = []
        self._followed_changes = -1
        # Whether more input waits on the connection (the service asks the MQTT socket): while it does and the service
        # is behind, the waiting messages stay until the look-ahead fills instead of closing on the timer.
        self.input_pending: Callable[[], bool] = lambda: False
        self._base_delay = batch_max_delay_s
        self._late_delay = max(batch_max_delay_late_s or batch_max_delay_s, batch_max_delay_s)
        self._max_delay = batch_max_delay_s
        self._last_received = 0.0
        metrics.batch_window.set(batch_max_delay_s)
        self._log_interval = quarantine_log_interval_s
        self._last_logged: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._status_listeners: list[StatusListener] = []
        self.device_online: dict[int, bool] = {}

    @property
    def decoder(self) -> SenmlDecoder:
        """The codec this intake decodes with (a replay decodes ahead with the same one)."""
        return self._decoder

    def on_status(self, listener: StatusListener) -> None:
        """Call ``listener`` for every device status message."""
        self._status_listeners.append(listener)

    def accept(self, topic: str, payload: bytes, received: float, ack: Ack | None = None) -> None:
        """Take one message; flush the batch when it is full. ``ack`` is called once its rows have committed."""
        if not self._raw and not self._predecoded:
            self._batch_opened_at = self._clock.now()
        depth = len(self._raw)
        self._raw.append((topic, payload, received))
        self._acks.append(ack)
        prescreen = self.prescreen
        urgent = False
        if prescreen is not None and topic not in self._urgent_topics and prescreen.urgent(topic, payload, received):
            urgent = True
            if depth >= self._max_messages:  # behind a full batch: it jumps the backlog at the next tick
                self._urgent_topics.update(prescreen.topics_of(topic))
        if depth + 1 >= self._lookahead or (depth + 1 == self._max_messages and not self._reading_ahead()):
            self._close(self._max_messages)
        elif urgent and depth < self._max_messages:
            # Within the next batch: judged now with what came before it, not a window later (or held to the bound).
            self._urgent_held = depth + 1
            if self._may_close_early():
                self._close(depth + 1)

    def accept_priority(self, topic: str, payload: bytes, received: float, ack: Ack | None = None) -> None:
        """Take one message from the priority lane: judged at once (past the early-close bound: at a timer tick within
        a configured batch window), ahead of everything waiting here, with any waiting message of the same device."""
        self._lane.append((topic, payload, received))
        self._lane_acks.append(ack)
        if self._may_close_early():
            self._flush_lane()

    def accept_decoded(self, batch: ReadingBatch) -> None:
        """Add readings the same codec already decoded (columnar recordings) to the open batch."""
        if not len(batch):
            return
        if not self._raw and not self._predecoded:
            self._batch_opened_at = self._clock.now()
        self._predecoded.append(batch)

    @property
    def batch_opened_at(self) -> float | None:
        """When the open batch took its first message (None: no batch is open)."""
        return self._batch_opened_at if self._raw or self._predecoded else None

    def flush_if_due(self) -> None:
        """Judge urgent messages now, and a batch that has waited long enough (called by a timer).

        While behind with more input pending, the waiting messages stay (the look-ahead fills; ``accept`` closes
        the oldest batch when it is full): the pre-screen then sees what the socket held.
        """
        if self._urgent_topics:
            self._flush_urgent()
        # The lane's messages the early-close bound held back: once it allows, or a configured window after the
        # first of them (a flood on the lane costs about one batch per window, not one per tick).
        if self._lane and (self._clock.now() - self._lane[0][2] >= self._base_delay or self._may_close_early()):
            self._flush_lane()
        if self._urgent_held and self._may_close_early():
            self._close(min(self._urgent_held, len(self._raw)))
        if (self._raw or self._predecoded) and self._clock.now() - self._batch_opened_at >= self._max_delay:
            if len(self._raw) < self._lookahead and self._reading_ahead():
                if self._predecoded:  # other ingests (HJ 212, Modbus) are not part of the MQTT backlog: no waiting
                    self._flush_predecoded([], [])
                return
            self.flush()

    def _may_close_early(self) -> bool:
        """Whether an urgent message may close its batch at once (and count it): a token bucket of early closes.

        The bound keeps a flood of urgent messages (a device in alarm sending fast, a city in an emergency) from
        shrinking every batch to one message: past a burst of ``EARLY_CLOSE_BURST``, at most one early batch per
        configured ``batch_max_delay_s`` on top of the usual ones; an urgent message held back is closed by the timer
        once the bucket allows, so it never waits longer than that window (a grown one included), as every message
        did before. The configured window, not the grown one: a small early batch of late readings (a device sending
        hours-old data) grows the window, and the next urgent message must not wait for that. While reading ahead it
        holds too: an urgent message among the first batch's worth does not wait for the look-ahead to fill.
        """
        now = self._clock.now()
        gained = (now - self._early_credit_at) / self._base_delay
        self._early_credit = min(float(EARLY_CLOSE_BURST), self._early_credit + gained)
        self._early_credit_at = now
        if self._early_credit < 1.0:
            return False
        self._early_credit -= 1.0
        return True

    def _reading_ahead(self) -> bool:
        """Behind (the data judged is later than usual) and more input waits: fill the look-ahead first."""
        excess = self.behind_excess_s
        return excess is not None and excess > READ_AHEAD_LATE_S and self.input_pending()

    def _flush_urgent(self) -> None:
        """Close a batch of every waiting message of the urgent devices (in arrival order); the rest wait on."""
        topics, self._urgent_topics = self._urgent_topics, set()
        raw, acks = self._raw, self._acks
        taken = [i for i, message in enumerate(raw) if message[0] in topics]
        if not taken:
            return
        chosen = set(taken)
        self._raw = [message for i, message in enumerate(raw) if i not in chosen]
        self._acks = [ack for i, ack in enumerate(acks) if i not in chosen]
        self._metrics.ingest_urgent.inc(len(taken))
        self._submit([raw[i] for i in taken], [acks[i] for i in taken])

    def _flush_lane(self) -> None:
        """Close a batch of the priority lane's messages, after any message of their devices waiting here.

        A message of a priority device waits here only when the main session delivered it first (the lane was
        down or behind): it was published before the lane's messages, so it is judged before them.
        """
        lane, lane_acks = self._lane, self._lane_acks
        self._lane, self._lane_acks = [], []
        topics = {topic for topic, _, _ in lane}
        raw, acks = self._raw, self._acks
        taken = [i for i, message in enumerate(raw) if message[0] in topics]
        if taken:
            chosen = set(taken)
            self._raw = [message for i, message in enumerate(raw) if i not in chosen]
            self._acks = [ack for i, ack in enumerate(acks) if i not in chosen]
        self._metrics.ingest_urgent.inc(len(taken) + len(lane))
        self._submit([raw[i] for i in taken] + lane, [acks[i] for i in taken] + lane_acks)

    def flush(self) -> None:
        """Close everything waiting, urgent devices first, in batches of at most ``batch_max_messages``."""
        if self._urgent_topics:
            self._flush_urgent()
        if self._lane:
            self._flush_lane()
        while len(self._raw) > self._max_messages:
            self._close(self._max_messages)
        self._close(len(self._raw))

    def _close(self, count: int) -> None:
        """Close a batch of the ``count`` oldest waiting messages (and any readings decoded ahead of time)."""
        raw, self._raw = self._raw[:count], self._raw[count:]
        acks, self._acks = self._acks[:count], self._acks[count:]
        self._urgent_held = max(0, self._urgent_held - count)
        if self._raw:
            self._batch_opened_at = self._clock.now()
        if self._predecoded:
            self._flush_predecoded(raw, [ack for ack in acks if ack is not None])
            return
        self._submit(raw, acks)

    def _submit(self, raw: list[RawMessage], message_acks: Sequence[Ack | None]) -> None:
        """Decode a closed batch (here, or in a worker when it is big) and run it through the pipeline in turn."""
        if not raw:
            return
        acks = [ack for ack in message_acks if ack is not None]
        if (
            self._pool is not None
            and self._pool_ready
            and len(raw) >= self._offload_min
            and self._clock.now() >= self._pool_retry_at
        ):
            try:
                future = self._pool.submit(raw)
            except Exception:  # the pool broke (a worker was killed): replace it, decode this batch here
                log.exception("decode workers unavailable; decoding a batch of %d messages in place", len(raw))
                self._pool_failed()
            else:
                future.add_done_callback(self._decoded)
                self._in_flight.append((raw, acks, future))
                return
        decoded = decode_messages(self._decoder, raw)
        if self._in_flight:
            self._in_flight.append((raw, acks, decoded))
        else:
            self._apply(raw, acks, decoded)

    def _flush_predecoded(self, raw: list[RawMessage], acks: list[Ack]) -> None:
        """Close a batch holding readings decoded ahead of time (and maybe raw messages): one pipeline pass, as the
        same messages decoded here would have made."""
        parts, self._predecoded = self._predecoded, []
        decoded = decode_messages(self._decoder, raw) if raw else DecodedBatch(ReadingBatch.empty())
        decoded.readings = ReadingBatch.concat([b for b in (decoded.readings, *parts) if len(b)])
        if self._in_flight:
            self._in_flight.append((raw, acks, decoded))
        else:
            self._apply(raw, acks, decoded)

    async def settle(self) -> None:
        """Close the current batch and wait until every closed batch has been through the pipeline."""
        self.flush()
        while self._in_flight:
            pending = [item for _, _, item in self._in_flight if isinstance(item, asyncio.Future)]
            if pending:
                await asyncio.wait(pending)
            self._decoded()

    def start(self) -> None:
        """Start the decode workers in the background; batches are decoded in place until they are ready."""
        if self._pool is None:
            return
        self._pool_starting = self._pool.start()
        for future in self._pool_starting:
            future.add_done_callback(self._worker_started)

    async def wait_ready(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until the decode workers are ready, so a backlog delivered right after
        subscribing goes to them; True when ready (or when there are none)."""
        if self._pool is None or self._pool_ready:
            return True
        await asyncio.wait(self._pool_starting, timeout=timeout_s)
        return self._pool_ready

    def _worker_started(self, future: asyncio.Future[bool]) -> None:
        if future.cancelled() or future.exception() is not None:
            log.warning("a decode worker did not start; decoding in place for %.0fs", POOL_RETRY_S)
            self._pool_failed()
        elif all(f.done() and not f.cancelled() and f.exception() is None for f in self._pool_starting):
            self._pool_ready = True

    async def close(self) -> None:
        """Stop the decode workers (call after ``settle``)."""
        if self._pool is not None:
            await self._pool.close()

    def _decoded(self, _future: object = None) -> None:
        """Run every batch at the head of the line whose decoding is done, in order."""
        while self._in_flight:
            raw, acks, item = self._in_flight[0]
            if isinstance(item, asyncio.Future):
                if not item.done():
                    return
                try:
                    decoded = item.result()
                except Exception:  # a worker died (or was stopped): decode here instead, lose nothing
                    log.exception("decode worker failed on a batch of %d messages; decoding it in place", len(raw))
                    self._pool_failed()
                    decoded = decode_messages(self._decoder, raw)
            else:
                decoded = item
            self._in_flight.popleft()
            self._apply(raw, acks, decoded)

    def _pool_failed(self) -> None:
        # Replace the workers, and decode in place for a while: workers that cannot start must not cost a failed
        # attempt (and a logged traceback) on every batch.
        if self._pool is not None:
            self._pool.restart()
            self._pool_ready = True  # the new executor starts its workers on the first batch after the pause
        self._pool_retry_at = self._clock.now() + POOL_RETRY_S

    def _apply(self, raw: list[RawMessage], acks: list[Ack], decoded: DecodedBatch) -> None:
        now = self._clock.now()  # the one reading of the clock for this batch: the chain is judged at it
        self.last_applied_at = now
        self._metrics.ingest_messages.inc(len(raw))
        for index, rejection in decoded.rejections:
            topic, payload, received = raw[index]
            self._quarantine(topic, payload, received, rejection)
        for status in decoded.statuses:
            self._status(status)
        if raw:
            self._last_received = raw[-1][2]
        batch = decoded.readings
        if len(batch):
            # How old the data being judged is: grows without bound while the broker queues more than we take.
            # Judged now, not at receipt: under overload a message may wait in the look-ahead after it was read.
            judged_at = max(now, self._last_received)
            self.behind_s = max(0.0, judged_at - float(np.median(batch.time)))
            self.behind_excess_s = self._lateness.excess(batch, judged_at)
            if self._late_delay > self._base_delay:
                self._adapt_window(batch)
            try:
                self._pipeline.process(batch, now)
                self._follow()
            except Exception as exc:
                # A bug in the chain must not lose the input: every message of the batch is kept for inspection
                # (and acknowledged with it), and the next batch goes through as usual.
                log.exception("the processing chain failed on a batch of %d messages; quarantined", len(raw))
                for topic, payload, received in raw:
                    detail = f"processing failed: {type(exc).__name__}: {exc}"[:200]
                    self._quarantine(topic, payload, received, Rejection(Reason.PROCESSING_ERROR, detail))
        # After the rows above were queued: the writer sends these once they (and all before them) committed.
        self._writer.add_acks(acks)

    def _follow(self) -> None:
        # The pre-screen learns the devices in alarm when a condition changed (not at every batch: it reads the book).
        changes = self._pipeline.flow.condition_changes
        if self.prescreen is not None and changes != self._followed_changes:
            self._followed_changes = changes
            self.prescreen.follow(self._pipeline.latest_value, self._pipeline.flow.state.book)

    @property
    def batch_window(self) -> float:
        """How long a batch may wait now (seconds)."""
        return self._max_delay

    def _adapt_window(self, batch: ReadingBatch) -> None:
        # How late the readings arrive decides the window. Fresh readings keep the short window (alarm latency).
        # Late ones (an outage's backlog, or input beyond what the service keeps up with) gain little from a few
        # ms more and cost far less per reading in big batches, so the backlog drains faster and the window
        # shrinks again as readings catch up with the clock. The median ignores the odd device with a wrong clock.
        lateness = self._last_received - float(np.median(batch.time))
        window = min(self._late_delay, max(self._base_delay, LATENESS_SHARE * lateness))
        if window != self._max_delay:
            self._max_delay = window
            self._metrics.batch_window.set(window)

    def _status(self, status: DeviceStatus) -> None:
        self.device_online[status.device] = status.online
        self._metrics.devices_online.set(sum(self.device_online.values()))
        device_id = self._pipeline.table.devices[status.device].id
        self._writer.set_device_status(device_id, status.online, status.time)
        for listener in self._status_listeners:
            listener(status)

    def device_status(self, status: DeviceStatus) -> None:
        """A device's online/offline state learnt by another ingest (a Modbus controller that stops answering)."""
        self._status(status)

    def holds(self, window: int) -> bool:
        """Whether ``window`` messages are unsettled here: waiting, or judged with their rows not yet committed.

        The MQTT receive stops reading while this holds (the broker's receive maximum bounds what is in flight).
        """
        return self.waiting()[0] + self._writer.unacknowledged() >= window

    def waiting(self) -> tuple[int, float | None]:
        """Messages received but not yet through the pipeline, and the receive time of the oldest of them."""
        count = len(self._raw) + len(self._lane) + sum(len(raw) for raw, _, _ in self._in_flight)
        oldest: float | None = None
        if self._in_flight and self._in_flight[0][0]:
            oldest = self._in_flight[0][0][0][2]
        elif self._raw:
            oldest = self._raw[0][2]
        return count, oldest

    def _quarantine(self, topic: str, payload: bytes, received: float, rejection: Rejection) -> None:
        self.quarantine(topic, payload, received, rejection.reason.value, rejection.detail)

    def quarantine(self, topic: str, payload: bytes, received: float, reason: str, detail: str) -> None:
        """Keep input that cannot be used (any ingest): counted by reason, stored with its raw bytes, logged."""
        self._metrics.quarantined.labels(reason).inc()
        kept = self._budget.admit(received, topic, detail, payload)
        if kept is None:
            self._metrics.quarantine_not_stored.inc()
        else:
            detail, stored = kept
            self._writer.add_quarantine(received, topic, reason, detail, stored)
        now = self._clock.now()
        last = self._last_logged.get(reason)
        if last is None or now - last >= self._log_interval:
            skipped = self._suppressed.pop(reason, 0)
            more = f" ({skipped} more since last report)" if skipped else ""
            log.warning("quarantined input from %s: %s: %s%s", topic, reason, detail, more)
            self._last_logged[reason] = now
        else:
            self._suppressed[reason] = self._suppressed.get(reason, 0) + 1
