"""The HJ 212-2017 TCP listener: many data loggers, each on its own connection task, feeding the shared intake.

Each connection is a task of its own (asyncio streams), reads with an idle timeout and writes its
answers with a write timeout, so a slow or silent logger holds only its own task. Frames are taken
apart by the sans-I/O ``Framer``; readings of all loggers gather in one batch that goes to the intake
(the same pipeline as MQTT) when it is old or big enough. Whatever cannot be used is quarantined with
its raw bytes through the intake, like bad SenML, and the connection goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict

from daemon.clock import Clock
from daemon.config import Hj212Config
from daemon.errors import HazwatchError
from daemon.ingest.hj212.framing import BadFrame, Frame, FrameProblem, Framer
from daemon.ingest.hj212.message import (
    CN_DATA_ACK,
    CN_EXE_RTN,
    CN_NOTICE_RTN,
    CN_QN_RTN,
    DATA_CNS,
    FLAG_ACK,
    Message,
    MessageError,
    QnRtn,
    best_effort_header,
    data_ack,
    parse_message,
    qn_rtn,
)
from daemon.ingest.hj212.metrics import Hj212Metrics, Outcome
from daemon.ingest.hj212.readings import Hj212Decoder, Hj212Reason, Logger
from daemon.ingest.intake import Intake
from daemon.ingest.senml import BatchBuilder, DeviceStatus

log = logging.getLogger(__name__)

READ_CHUNK = 64 * 1024
BATCH_MAX_READINGS = 5000  # a batch this big goes to the pipeline at once
REMEMBERED_UPLOADS = 256  # per logger: (QN, PNO) of recent uploads, to recognise resends
_ANSWER_CNS = frozenset({CN_QN_RTN, CN_EXE_RTN, CN_NOTICE_RTN, CN_DATA_ACK})


def is_upload(cn: str) -> bool:
    """Uploads a logger sends on its own (HJ 212-2017 20xx data commands, 3020 status); answered with 9014."""
    return cn in DATA_CNS or cn.startswith("20") or cn == "3020"


class Hj212Listener:
    """Accepts data loggers and turns their uploads into readings."""

    def __init__(
        self, config: Hj212Config, decoder: Hj212Decoder, intake: Intake, metrics: Hj212Metrics, clock: Clock
    ) -> None:
        self._config = config
        self._decoder = decoder
        self._intake = intake
        self._metrics = metrics
        self._clock = clock
        self._server: asyncio.Server | None = None
        self._pending = BatchBuilder()
        self._flush_handle: asyncio.TimerHandle | None = None
        self._recent: dict[str, OrderedDict[tuple[str | None, int | None], None]] = {}
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self.port: int | None = None

    async def start(self) -> None:
        """Listen on the configured address."""
        try:
            self._server = await asyncio.start_server(
                self._serve, self._config.host, self._config.port, limit=READ_CHUNK
            )
        except OSError as exc:
            raise HazwatchError(
                f"cannot listen for HJ 212 loggers on {self._config.host}:{self._config.port}: {exc.strerror}; "
                "choose another [hj212] port"
            ) from exc
        sockets = self._server.sockets
        self.port = sockets[0].getsockname()[1] if sockets else self._config.port
        log.info(
            "HJ 212 listener on %s:%s (%d loggers known)", self._config.host, self.port, len(self._decoder.loggers)
        )

    async def stop(self) -> None:
        """Stop accepting, close every connection, hand the last readings to the intake."""
        if self._server is not None:
            self._server.close()
        # Closing the sockets ends each connection's read, so its task finishes on its own (cancelling a
        # stream server's connection task makes asyncio log it as an error).
        for writer in list(self._connections.values()):
            writer.transport.abort()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=5.0)
        if self._server is not None:
            await self._server.wait_closed()
        self.flush()

    def flush(self) -> None:
        """Hand the readings gathered so far to the intake (the pipeline)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if len(self._pending):
            self._intake.accept_decoded(self._pending.build())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        peer = writer.get_extra_info("peername")
        source = f"hj212://{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "hj212://?"
        if len(self._connections) >= self._config.max_connections:
            self._metrics.connections_refused.inc()
            log.warning("HJ 212: refusing %s: %d connections open", source, len(self._connections))
            writer.close()
            return
        if task is not None:
            self._connections[task] = writer
        self._metrics.connections_accepted.inc()
        self._metrics.connections.inc()
        framer = Framer(self._config.max_data_bytes)
        announced: set[int] = set()
        try:
            while True:
                try:
                    async with asyncio.timeout(self._config.idle_timeout_s):
                        chunk = await reader.read(READ_CHUNK)
                except TimeoutError:
                    log.info("HJ 212: closing %s: silent for %.0f s", source, self._config.idle_timeout_s)
                    break
                if not chunk:
                    break
                received = self._clock.now()
                answers = [self._guarded(item, source, received, announced) for item in framer.feed(chunk)]
                reply = b"".join(answer for answer in answers if answer)
                if reply:
                    writer.write(reply)
                    async with asyncio.timeout(self._config.write_timeout_s):
                        await writer.drain()
                # Reads and drains of buffered data return without yielding: give the other connections their turn
                # after each chunk, so a logger sending a flood shares the loop chunk by chunk.
                await asyncio.sleep(0)
        except TimeoutError:
            log.warning("HJ 212: closing %s: it does not read its answers", source)
        except (ConnectionError, OSError) as exc:
            log.info("HJ 212: %s: %s", source, exc)
        finally:
            leftover = framer.close()
            if leftover is not None:
                self._quarantine(source, leftover.problem.value, leftover.detail, leftover.raw, self._clock.now())
            self._metrics.connections.dec()
            if task is not None:
                self._connections.pop(task, None)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _guarded(self, item: Frame | BadFrame, source: str, received: float, announced: set[int]) -> bytes | None:
        """``_handle``, but a frame that trips a bug is quarantined and logged, and the connection goes on."""
        try:
            return self._handle(item, source, received, announced)
        except Exception as exc:
            log.exception("HJ 212: could not handle a frame from %s", source)
            self._quarantine(source, Hj212Reason.INVALID_MESSAGE.value, f"internal error: {exc!r}", item.raw, received)
            return None

    def _handle(self, item: Frame | BadFrame, source: str, received: float, announced: set[int]) -> bytes | None:
        """One frame or bad frame: feed, quarantine and answer (returns the answer packet, if any)."""
        if isinstance(item, BadFrame):
            self._quarantine(source, item.problem.value, item.detail, item.raw, received)
            if item.problem is FrameProblem.CRC_MISMATCH and item.data is not None:
                header = best_effort_header(item.data)
                # QnRtn=9 asks the logger to send again; only a logger that asked for answers expects one.
                if "MN" in header and header.get("Flag", "").isdigit() and int(header["Flag"]) & FLAG_ACK:
                    return self._answered(CN_QN_RTN, qn_rtn(header, QnRtn.CRC_ERROR))
            return None
        try:
            message = parse_message(item.data)
        except MessageError as exc:
            self._quarantine(source, Hj212Reason.INVALID_MESSAGE.value, str(exc), item.raw, received)
            return None
        identified = self._decoder.identify(message)
        if identified.logger is None:
            problem = identified.problem
            if problem is not None:
                self._quarantine(f"{source}/{message.mn}", problem.reason, problem.detail, item.raw, received)
            if message.wants_answer and identified.answer is not None:
                return self._answered(CN_QN_RTN, qn_rtn(message, identified.answer))
            return None
        logger = identified.logger
        if logger.device not in announced:
            announced.add(logger.device)
            if self._intake.device_online.get(logger.device) is not True:
                self._intake.device_status(DeviceStatus(logger.device, True, received))
        if message.cn in _ANSWER_CNS:
            self._metrics.frames.labels(Outcome.ANSWER.value).inc()
            return None
        if not is_upload(message.cn):
            self._metrics.frames.labels(Outcome.UNSUPPORTED.value).inc()
            return self._answered(CN_QN_RTN, qn_rtn(message, QnRtn.REJECTED)) if message.wants_answer else None
        if self._seen(logger, message):
            self._metrics.frames.labels(Outcome.DUPLICATE.value).inc()
        else:
            self._take(message, logger, source, item.raw, received)
        return self._answered(CN_DATA_ACK, data_ack(message)) if message.wants_answer else None

    def _take(self, message: Message, logger: Logger, source: str, raw: bytes, received: float) -> None:
        before = len(self._pending)
        problems = self._decoder.decode(message, logger, received, self._pending)
        for problem in problems:  # values of an otherwise good upload: the frame counts as accepted
            self._intake.quarantine(f"{source}/{message.mn}", raw, received, problem.reason, problem.detail)
        self._metrics.frames.labels(Outcome.ACCEPTED.value).inc()
        if len(self._pending) >= BATCH_MAX_READINGS:
            self.flush()
        elif len(self._pending) > before and self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(self._config.batch_max_delay_s, self.flush)

    def _seen(self, logger: Logger, message: Message) -> bool:
        """True for a resend: an upload with a QN (and packet number) this logger already delivered."""
        if message.qn is None:
            return False
        recent = self._recent.setdefault(message.mn, OrderedDict())
        key = (message.qn, message.pno)
        if key in recent:
            return True
        recent[key] = None
        if len(recent) > REMEMBERED_UPLOADS:
            recent.popitem(last=False)
        return False

    def _answered(self, cn: str, packet: bytes) -> bytes:
        self._metrics.answers.labels(cn).inc()
        return packet

    def _quarantine(self, source: str, reason: str, detail: str, raw: bytes, received: float) -> None:
        self._metrics.frames.labels(Outcome.QUARANTINED.value).inc()
        self._intake.quarantine(source, raw, received, reason, detail)
