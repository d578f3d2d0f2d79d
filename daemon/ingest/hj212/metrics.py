"""Instruments of the HJ 212 listener, on the registry the service passes in."""

from __future__ import annotations

from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Gauge

from daemon.ingest.hj212.framing import FrameProblem
from daemon.ingest.hj212.message import CN_DATA_ACK, CN_EXE_RTN, CN_QN_RTN
from daemon.ingest.hj212.readings import Hj212Reason
from daemon.metrics.instruments import Metrics


class Outcome(StrEnum):
    """What became of a frame (a closed set: metric label)."""

    ACCEPTED = "accepted"  # an upload from a known logger (its usable values became readings)
    DUPLICATE = "duplicate"  # a resend of an upload already taken (acknowledged again, not fed twice)
    QUARANTINED = "quarantined"  # bad framing, CRC, message, MN or PW
    UNSUPPORTED = "unsupported"  # a request the service does not serve (answered QnRtn=2)
    ANSWER = "answer"  # an answer from a logger (9011-9014) to a command the service did not send


class Hj212Metrics:
    """Connections, frames by outcome, answers sent by CN."""

    def __init__(self, registry: CollectorRegistry, metrics: Metrics) -> None:
        self.connections = Gauge("hazwatch_hj212_connections", "Data logger connections open now.", registry=registry)
        self.connections_accepted = Counter(
            "hazwatch_hj212_connections_accepted_total", "Data logger connections accepted.", registry=registry
        )
        self.connections_refused = Counter(
            "hazwatch_hj212_connections_refused_total",
            "Connections closed at once because max_connections were open.",
            registry=registry,
        )
        self.frames = Counter(
            "hazwatch_hj212_frames_total", "HJ 212 frames received, by outcome.", ["outcome"], registry=registry
        )
        for outcome in Outcome:
            self.frames.labels(outcome.value)
        self.answers = Counter(
            "hazwatch_hj212_answers_total", "Answers sent to data loggers, by CN.", ["cn"], registry=registry
        )
        for cn in (CN_QN_RTN, CN_EXE_RTN, CN_DATA_ACK):
            self.answers.labels(cn)
        # The shared quarantine counter gets the HJ 212 reasons from the start, like the SenML ones.
        for reason in (*FrameProblem, *Hj212Reason):
            metrics.quarantined.labels(reason.value)
