"""HJ 212 throughput: frames per second from many data loggers over TCP, through the listener, to the store.

L loggers (each its own TCP connection, its own MN) send F real-time uploads (CN=2011, 4 pollutants
each) as fast as the socket takes them, without asking for answers; the last upload of each logger
asks for a 9014 answer, so its arrival means the listener has taken every frame before it. The clock
stops when the readings are committed to the store (SQLite). The path is complete: framing, CRC,
parsing, MN/PW check, decode, detect, alarm, store.

    python bench/hj212.py [--loggers 50] [--frames 2000] [--rounds 2] [--db sqlite:///PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from daemon.config import ServiceConfig
from daemon.ingest.embedded_broker import free_port
from daemon.ingest.hj212.framing import Framer, encode_frame
from daemon.service import Service
from daemon.store.reading_chunks import count_readings
from rules.site import Site

CODES = ("a21026", "a21024", "a21004", "a21028")  # SO2, Cl2, NO2, H2S (HJ 524 / HJ 212-2017 Annex B codes)
GASES = ("H2S", "Cl2", "NH3", "H2S")
ZONE = ZoneInfo("Asia/Shanghai")


def bench_site(loggers: int) -> Site:
    """``loggers`` data loggers with four gas channels each."""
    return Site.model_validate(
        {
            "site": "bench-hj212",
            "name": "HJ 212 benchmark",
            "center": {"lat": 31.9, "lon": 121.1},
            "zones": [{"id": "boundary", "name": "boundary", "type": "boundary"}],
            "devices": [
                {
                    "id": f"logger-{d:04d}",
                    "type": "gas_detector",
                    "position": {"lat": 31.9 + d * 1e-4, "lon": 121.1},
                    "zone": "boundary",
                    "report_interval_s": 30,
                    "hj212": {"mn": f"MN{d:012d}", "password": "123456",
                              "codes": {code: f"ch{k}" for k, code in enumerate(CODES)}},
                    "sensors": [
                        {"id": f"logger-{d:04d}-{k}", "name": f"ch{k}", "kind": "gas", "unit": "ppm",
                         "substance": GASES[k]}
                        for k in range(len(CODES))
                    ],
                }
                for d in range(loggers)
            ],
        }
    )  # fmt: skip


def upload(logger: int, index: int, start: float, *, flag: int) -> bytes:
    """One real-time upload of a logger, a second after the previous one."""
    data_time = datetime.fromtimestamp(start + index, ZONE).strftime("%Y%m%d%H%M%S")
    values = ";".join(f"{code}-Rtd={0.1 + (index % 13) * 0.01:.3f},{code}-Flag=N" for code in CODES)
    head = f"QN={logger:05d}{index:012d};ST=22;CN=2011;PW=123456;MN=MN{logger:012d};Flag={flag}"
    data = f"{head};CP=&&DataTime={data_time};{values}&&"
    return encode_frame(data.encode())


async def one_logger(port: int, logger: int, frames: list[bytes], last: bytes) -> None:
    """Send every frame, then the one that asks for an answer, and wait for it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for start in range(0, len(frames), 200):
        writer.write(b"".join(frames[start : start + 200]))
        await writer.drain()
    writer.write(last)
    await writer.drain()
    framer = Framer()
    while not framer.feed(await reader.read(4096)):
        pass
    writer.close()


async def run_round(loggers: int, frames: int, db_url: str) -> tuple[float, int]:
    """Frames per second and readings stored in one round."""
    config = ServiceConfig()
    config.mqtt.broker = f"embedded:127.0.0.1:{free_port('127.0.0.1')}"
    config.database.url = db_url
    config.http.port = 0
    config.ingest.decode_workers = 0
    config.hj212.enabled = True
    config.hj212.port = 0
    service = Service(config, bench_site(loggers))
    await service.start()
    try:
        listener = service.field_protocols.hj212
        assert listener is not None
        assert listener.port is not None
        start = time.time() - 2 * frames - 600
        payloads = [[upload(d, i, start, flag=4) for i in range(frames)] for d in range(loggers)]
        lasts = [upload(d, frames, start, flag=5) for d in range(loggers)]
        began = time.perf_counter()
        await asyncio.gather(*(one_logger(listener.port, d, payloads[d], lasts[d]) for d in range(loggers)))
        await service.drain()
        elapsed = time.perf_counter() - began
        async with service.engine.connect() as connection:
            stored = await count_readings(connection)
    finally:
        await service.stop()
    return loggers * (frames + 1) / elapsed, stored


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loggers", type=int, default=50)
    parser.add_argument("--frames", type=int, default=2000, help="uploads per logger")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--db", default=None, help="SQLAlchemy URL (default: a SQLite file in a temp dir)")
    args = parser.parse_args()
    rates = []
    for round_number in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            db_url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
            rate, stored = await run_round(args.loggers, args.frames, db_url)
        expected = args.loggers * (args.frames + 1) * len(CODES)
        print(f"round {round_number + 1}: {rate:,.0f} frames/s ({rate * len(CODES):,.0f} readings/s), "
              f"{stored:,} of {expected:,} readings stored")  # fmt: skip
        rates.append(rate)
    print(f"median: {statistics.median(rates):,.0f} frames/s from {args.loggers} loggers x {args.frames} uploads")


if __name__ == "__main__":
    asyncio.run(main())
