"""Recordings round-trip byte for byte, from files, from the real Mosquitto broker and from the store."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from pathlib import Path

import aiomqtt
import numpy as np
import sqlalchemy as sa

from daemon.clock import ManualClock, WallClock
from daemon.config import ServiceConfig
from daemon.drills.columnar import ColumnarReader, ColumnarWriter
from daemon.drills.recorder import record_broker, record_from_store
from daemon.drills.recording import RecordedMessage, RecordingReader, RecordingWriter, RotatingRecorder
from daemon.ingest.broker_url import parse_broker
from daemon.ingest.senml import BatchBuilder, SenmlDecoder
from daemon.site_file import load_site
from daemon.store.engine import create_engine, migrate
from daemon.store.reading_chunks import encode_chunks
from daemon.store.schema import quarantine, reading_chunks
from detectors.readings import ReadingBatch
from rules.sensor_table import SensorTable
from tests.drills.conftest import replay_and_report

PAYLOADS = [
    b'[{"bn":"gas-n01:","bt":1717376400.0,"n":"cl2","u":"ppm","v":0.01}]',
    "中文 ünïcødé".encode(),
    b"\xff\xfe\x00\x80 not utf-8",
    b"",
    b'line\nbreak and "quotes" \\ backslash',
]


def test_json_lines_round_trip_is_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    sent = [
        RecordedMessage(1717376400.0 + i * 0.123456789, f"hazwatch/demo-park/t{i}", p) for i, p in enumerate(PAYLOADS)
    ]
    with RecordingWriter(path, "test", site="demo-park", ground_truth={"events": []}) as writer:
        for m in sent:
            writer.write(m.received, m.topic, m.payload)
    with RecordingReader(path) as reader:
        assert reader.header["ground_truth"] == {"events": []}
        assert list(reader) == sent
    assert "payload_b64" in path.read_text(encoding="utf-8").splitlines()[3]


def test_columnar_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "r.hzc"
    batch = ReadingBatch.from_lists([0, 5, 2], [1.0, 2.0, 3.5], [0.25, 1e-9, 3e9], [0, 4, 1])
    extra = [RecordedMessage(2.5, "hazwatch/demo-park/x", PAYLOADS[2])]
    with ColumnarWriter(path, "test", ["a", "b"], site="demo-park") as writer:
        writer.write_chunk(batch, extra, 1.0, 3.6)
        writer.write_chunk(ReadingBatch.empty(), [], 4.0, 4.0)
    with ColumnarReader(path) as reader:
        chunks = list(reader)
    assert reader.sensor_ids == ["a", "b"]
    np.testing.assert_array_equal(chunks[0].readings.value, batch.value)
    np.testing.assert_array_equal(chunks[0].readings.flags, batch.flags)
    assert chunks[0].messages == extra
    assert len(chunks[1].readings) == 0


async def test_a_replayed_non_utf8_payload_is_quarantined_with_its_exact_bytes(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    with RecordingWriter(path, "test", site="demo-park") as writer:
        writer.write(1717376400.0, "hazwatch/demo-park/gas-n01", PAYLOADS[2])
        writer.write(1717376401.0, "hazwatch/demo-park/gas-n01", PAYLOADS[0])
    db = tmp_path / "q.db"
    report = await replay_and_report(path, f"sqlite:///{db}")
    assert report["replay"]["readings"] == 1
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.select(quarantine.c.payload, quarantine.c.drill)).all()
    finally:
        engine.dispose()
    assert rows == [(PAYLOADS[2], True)]


async def test_record_from_the_real_mosquitto_broker(tmp_path: Path) -> None:
    prefix = f"hwtest-{uuid.uuid4().hex[:10]}"
    path = tmp_path / "live.jsonl"
    ready = asyncio.Event()
    with RecordingWriter(path, "mqtt", site="demo-park") as writer:
        task = asyncio.create_task(
            record_broker(
                parse_broker("mqtt://127.0.0.1:1883"),
                f"{prefix}/#",
                writer,
                WallClock(),
                duration_s=None,
                client_id=f"{prefix}-rec",
                ready=ready,
            )
        )
        await asyncio.wait_for(ready.wait(), 30)  # subscribed (SUBACK received)
        async with aiomqtt.Client("127.0.0.1", 1883, identifier=f"{prefix}-pub") as client:
            for i, payload in enumerate(PAYLOADS):
                await client.publish(f"{prefix}/demo-park/dev{i}", payload, qos=1)
            async with asyncio.timeout(30):
                while writer.messages < len(PAYLOADS):  # noqa: ASYNC110 - the writer has no event to wait on
                    await asyncio.sleep(0.02)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    with RecordingReader(path) as reader:
        got = list(reader)
    assert [(m.topic, m.payload) for m in got] == [(f"{prefix}/demo-park/dev{i}", p) for i, p in enumerate(PAYLOADS)]


def test_continuous_recorder_rotates_files(tmp_path: Path) -> None:
    recorder = RotatingRecorder(tmp_path / "rec", rotate_bytes=2000, site="demo-park")
    for i in range(100):
        recorder("hazwatch/demo-park/gas-n01", PAYLOADS[0], 1717376400.0 + i)
    recorder.close()
    assert len(recorder.files) > 1
    replayed = []
    for file in recorder.files:
        with RecordingReader(file) as reader:
            replayed += list(reader)
    assert [m.received for m in replayed] == [1717376400.0 + i for i in range(100)]


async def test_record_from_the_store_rebuilds_senml_the_codec_reads_back(tmp_path: Path) -> None:
    config = ServiceConfig()
    site = load_site(config.site_file)
    table = SensorTable.build(site)
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        await migrate(engine)
        ids = [sensor.id for sensor in table.sensors]
        live = ReadingBatch.from_lists(
            [table.index[s] for s in ("gas-n01-cl2", "gas-n01-hcl", "src-cam-01-tamper")],
            [1717376400.0, 1717376400.0, 1717376410.0],
            [0.02, 0.5, 1.0],
        )
        drill = ReadingBatch.from_lists([table.index["gas-n02-cl2"]], [1717376420.0], [9.9])
        async with engine.begin() as connection:
            await connection.execute(sa.insert(reading_chunks), encode_chunks(live, ids, drill=False))
            await connection.execute(sa.insert(reading_chunks), encode_chunks(drill, ids, drill=True))
        with RecordingWriter(tmp_path / "db.jsonl", "db", site=site.site) as writer:
            count = await record_from_store(engine, table, "hazwatch", 1717376000.0, 1717377000.0, writer)
    finally:
        await engine.dispose()
    assert count == 2  # one message per device and time; the drill row is left out
    decoder = SenmlDecoder(table, "hazwatch", 1 << 16, 300.0, 1e9)
    builder = BatchBuilder()
    clock = ManualClock()
    with RecordingReader(tmp_path / "db.jsonl") as reader:
        for message in reader:
            clock.set(message.received)
            assert not decoder.decode(message.topic, message.payload, message.received, builder).rejections
            json.loads(message.payload)
    batch = builder.build()
    assert sorted(zip(batch.sensor.tolist(), batch.value.tolist(), strict=True)) == sorted(
        [(table.index["gas-n01-cl2"], 0.02), (table.index["gas-n01-hcl"], 0.5), (table.index["src-cam-01-tamper"], 1.0)]
    )
