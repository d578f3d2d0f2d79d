"""Big batches are decoded in a worker process while the event loop goes on receiving.

Under a backlog or a heavy stream, decoding SenML (about 12 us per 10-reading message) was a
third of the event loop's own work, on top of the MQTT client's. A worker process decodes on
another core; the loop only hands over the raw messages and gets numpy arrays back. Small
batches (normal load) are still decoded in place: shipping them costs more than decoding them,
and they must not wait for a process hop (alarm latency).

The decoder is a pure function of the site and limits, so a worker builds its own from the same
site file and produces exactly what the loop's decoder would.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import select
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from daemon.ingest.senml import BatchBuilder, DeviceStatus, Reason, Rejection, SenmlDecoder
from detectors.readings import ReadingBatch
from rules.sensor_table import SensorTable
from rules.site import Site

log = logging.getLogger(__name__)

RawMessage = tuple[str, bytes, float]  # topic, payload, receive time
CLOSE_TIMEOUT_S = 5.0


@dataclass(slots=True)
class DecodedBatch:
    """What a batch of messages decoded to."""

    readings: ReadingBatch
    rejections: list[tuple[int, Rejection]] = field(default_factory=list)  # index of the message, why
    statuses: list[DeviceStatus] = field(default_factory=list)


def decode_messages(decoder: SenmlDecoder, raw: list[RawMessage]) -> DecodedBatch:
    """Decode a batch of messages, in order."""
    builder = BatchBuilder()
    rejections: list[tuple[int, Rejection]] = []
    statuses: list[DeviceStatus] = []
    decode = decoder.decode
    for index, (topic, payload, received) in enumerate(raw):
        start = len(builder)
        try:
            result = decode(topic, payload, received, builder)
        except Exception as exc:  # a decoder bug on one message must cost that message only, never the batch
            builder.truncate(start)
            log.exception("decoder failed on a message from %s; quarantined", topic)
            rejections.append((index, Rejection(Reason.DECODE_ERROR, f"{type(exc).__name__}: {exc}"[:200])))
            continue
        if result.rejections:
            rejections += [(index, rejection) for rejection in result.rejections]
        if result.status is not None:
            statuses.append(result.status)
    return DecodedBatch(builder.build(), rejections, statuses)


@dataclass(frozen=True, slots=True)
class DecoderSpec:
    """Everything a worker needs to build the same decoder as the service."""

    site: Site
    prefix: str
    max_payload_bytes: int
    max_future_skew_s: float
    max_past_age_s: float

    def build(self, table: SensorTable | None = None) -> SenmlDecoder:
        """The decoder (``table``: the service's, when it has one already)."""
        return SenmlDecoder(
            table or SensorTable.build(self.site),
            self.prefix,
            self.max_payload_bytes,
            self.max_future_skew_s,
            self.max_past_age_s,
        )


_worker_decoder: SenmlDecoder | None = None


def _exit_with_service(service_pid: int) -> None:
    """End this worker as soon as the service process ends, however it ends.

    A worker forked by the forkserver holds the forkserver's "alive" pipe, and the forkserver (and the resource
    tracker) live as long as any holder does: without this, a SIGKILLed service left all three running for good.
    A pidfd becomes readable when its process exits (pidfd_open(2), Linux 5.3); elsewhere the pid is polled.
    """
    try:
        pidfd = os.pidfd_open(service_pid)
    except (AttributeError, OSError):
        pidfd = None

    def watch() -> None:
        if pidfd is not None:
            select.select([pidfd], [], [])
        else:
            while True:
                try:
                    os.kill(service_pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-service", daemon=True).start()


def _start_worker(spec: DecoderSpec, service_pid: int) -> None:
    _exit_with_service(service_pid)
    # Ctrl-C reaches the whole process group; the service decides when its worker stops, not the terminal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    global _worker_decoder  # noqa: PLW0603 - one decoder per worker process, built once
    _worker_decoder = spec.build()


def _decode_in_worker(raw: list[RawMessage]) -> DecodedBatch:
    if _worker_decoder is None:
        raise RuntimeError("decode worker was not initialised")
    return decode_messages(_worker_decoder, raw)


def _ready() -> bool:
    return _worker_decoder is not None


def _log_failure(future: asyncio.Future[bool]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("decode worker did not start: %s", future.exception())


class DecodePool:
    """Worker processes that decode batches for one service."""

    def __init__(self, spec: DecoderSpec, workers: int) -> None:
        # forkserver: workers fork from a small clean server process, never from the service with its
        # threads (database, executor); the server imports the decoder's modules once.
        self._spec = spec
        self.workers = workers
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=_start_worker, initargs=(self._spec, os.getpid())
        )

    def restart(self) -> None:
        """Replace workers that died (a broken pool refuses every later batch)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = self._new_executor()

    def start(self) -> list[asyncio.Future[bool]]:
        """Start the workers now rather than on the first big batch; the futures end when each is ready."""
        futures = []
        for _ in range(self.workers):
            future = asyncio.get_running_loop().run_in_executor(self._executor, _ready)
            future.add_done_callback(_log_failure)
            futures.append(future)
        return futures

    def submit(self, raw: list[RawMessage]) -> asyncio.Future[DecodedBatch]:
        """Decode ``raw`` in a worker."""
        return asyncio.get_running_loop().run_in_executor(self._executor, _decode_in_worker, raw)

    async def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Stop the workers (after the batches already submitted), off the event loop: a worker still starting (a
        stop soon after the start) held a blocking shutdown, and with it the whole loop, for seconds. Workers that
        have not ended after ``timeout_s`` are killed (they hold nothing: the service decodes a batch again itself
        when its worker fails)."""
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.to_thread(self._executor.shutdown, wait=True)
        except TimeoutError:
            processes = dict(getattr(self._executor, "_processes", None) or {})  # private: no public way to kill
            log.warning("%d decode workers still running %.0fs into the stop: killing them", len(processes), timeout_s)
            for process in processes.values():
                process.kill()
            self._executor.shutdown(wait=False, cancel_futures=True)
