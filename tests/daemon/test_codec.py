"""SenML decoding: units, base fields, relative time, every rejection reason (unit tests, no I/O)."""

from __future__ import annotations

import json

import pytest

from daemon.ingest.senml import BatchBuilder, Reason, SenmlDecoder
from detectors.readings import FLAG_CLOCK_SKEW, FLAG_DEVICE_FAULT, FLAG_OUT_OF_RANGE, FLAG_SATURATED
from rules.sensor_table import SensorTable
from rules.site import Site

NOW = 1_800_000_000.0


@pytest.fixture
def table(demo_site: Site) -> SensorTable:
    """The demo site's sensor table."""
    return SensorTable.build(demo_site)


@pytest.fixture
def decoder(table: SensorTable) -> SenmlDecoder:
    """A decoder with the default limits."""
    return SenmlDecoder(table, "hazwatch", 4096, 300.0, 7 * 86400.0)


def decode(
    decoder: SenmlDecoder, device: str, payload: object, topic: str | None = None
) -> tuple[BatchBuilder, list[str]]:
    """Decode one message; return the readings and the rejection reasons."""
    out = BatchBuilder()
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    result = decoder.decode(topic or f"hazwatch/demo-park/{device}", raw, NOW, out)
    return out, [r.reason.value for r in result.rejections]


def test_units_are_converted_to_canonical(decoder: SenmlDecoder, table: SensorTable) -> None:
    """µSv/h becomes nSv/h; mg/m3 becomes ppm with the gas's molar mass; base time and name apply."""
    out, reasons = decode(
        decoder, "gamma-01", [{"bn": "gamma-01:", "bt": NOW - 10, "n": "dose_rate", "v": 0.12, "u": "uSv/h"}]
    )
    assert reasons == []
    assert out.value == [pytest.approx(120.0)]
    assert out.time == [NOW - 10]
    assert out.sensor == [table.index["gamma-01-dose"]]
    out, reasons = decode(decoder, "gas-n01", [{"n": "cl2", "v": 1.0, "u": "mg/m3", "t": NOW}])
    assert reasons == []
    assert out.value == [pytest.approx(24.45 / 70.90)]


def test_relative_time_and_declared_unit(decoder: SenmlDecoder) -> None:
    """RFC 8428: a time below 2**28 is relative to now; a missing unit means the declared one."""
    out, reasons = decode(decoder, "gamma-01", [{"n": "dose_rate", "v": 95, "t": -30}])
    assert reasons == []
    assert out.time == [NOW - 30]
    assert out.value == [95.0]


def test_status_records_flag_the_message(decoder: SenmlDecoder) -> None:
    """A device saying its detector is saturated or faulty flags every reading of that message."""
    out, _ = decode(decoder, "gamma-01", [{"n": "dose_rate", "v": 10, "t": NOW}, {"n": "saturated", "vb": True}])
    assert out.flags == [int(FLAG_SATURATED)]
    out, _ = decode(decoder, "gamma-01", [{"n": "dose_rate", "v": 10, "t": NOW}, {"n": "fault", "vb": True}])
    assert out.flags == [int(FLAG_DEVICE_FAULT)]


def test_absurd_values_are_kept_but_flagged(decoder: SenmlDecoder) -> None:
    """Out of physical range: stored for inspection, flagged so no detector trusts it."""
    out, reasons = decode(decoder, "wx-01", [{"n": "wind_speed", "v": 400.0, "t": NOW}])
    assert reasons == []
    assert out.flags == [int(FLAG_OUT_OF_RANGE)]


def test_small_future_skew_is_flagged(decoder: SenmlDecoder) -> None:
    """A clock a minute ahead keeps the reading but marks it."""
    out, reasons = decode(decoder, "gamma-01", [{"n": "dose_rate", "v": 90, "t": NOW + 60}])
    assert reasons == []
    assert out.flags == [int(FLAG_CLOCK_SKEW)]


def test_booleans(decoder: SenmlDecoder) -> None:
    """Tamper switches arrive as vb and become 1.0 / 0.0."""
    out, reasons = decode(
        decoder, "src-cam-01", [{"n": "tamper", "vb": True, "t": NOW}, {"n": "tamper", "vb": False, "t": NOW}]
    )
    assert reasons == []
    assert out.value == [1.0, 0.0]


BAD_INPUTS = [
    (b"{", Reason.INVALID_JSON),
    (b"\xff\xfe", Reason.INVALID_JSON),
    (b"[]", Reason.INVALID_SENML),
    (b"42", Reason.INVALID_SENML),
    ([{"n": "dose_rate", "v": "x"}], Reason.INVALID_SENML),
    ([{"n": "dose_rate", "v": True}], Reason.INVALID_SENML),
    ([{"n": "dose_rate", "v": 1, "t": "soon"}], Reason.INVALID_SENML),
    ([{"bn": 7, "n": "dose_rate", "v": 1}], Reason.INVALID_SENML),
    ([1, 2, 3], Reason.INVALID_SENML),
    (b'[{"n":"dose_rate","v":NaN}]', Reason.NON_FINITE_VALUE),
    (b'[{"n":"dose_rate","v":-Infinity}]', Reason.NON_FINITE_VALUE),
    ([{"n": "dose_rate", "v": 1e400}], Reason.NON_FINITE_VALUE),
    ([{"n": "alpha", "v": 1}], Reason.UNKNOWN_SENSOR),
    ([{"n": "dose_rate", "v": 1, "u": "rem"}], Reason.UNKNOWN_UNIT),
    ([{"n": "dose_rate", "v": 1, "t": NOW + 3600}], Reason.TIME_IN_FUTURE),
    ([{"n": "dose_rate", "v": 1, "t": NOW - 8 * 86400}], Reason.TIME_TOO_OLD),
    (b'[{"n":"dose_rate","v":1' + b"0" * 400 + b"}]", Reason.NON_FINITE_VALUE),
    (b'[{"n":"dose_rate","v":1,"t":1' + b"0" * 400 + b"}]", Reason.NON_FINITE_VALUE),
    (b'[{"bt":1' + b"0" * 400 + b',"n":"dose_rate","v":1}]', Reason.NON_FINITE_VALUE),
    ([{"n": "dose_rate", "v": 1, "u": ["nSv/h"]}], Reason.UNKNOWN_UNIT),
    ([{"n": ["dose_rate"], "v": 1}], Reason.INVALID_SENML),
    (b"[" + b" " * 5000 + b"]", Reason.PAYLOAD_TOO_LARGE),
]


@pytest.mark.parametrize(("payload", "reason"), BAD_INPUTS)
def test_every_bad_input_has_a_reason(decoder: SenmlDecoder, payload: object, reason: Reason) -> None:
    """Bad input is explained, and produces no reading."""
    out, reasons = decode(decoder, "gamma-01", payload)
    assert reasons == [reason.value]
    assert len(out) == 0


@pytest.mark.parametrize(("payload", "reason"), BAD_INPUTS)
def test_a_known_record_shape_does_not_let_bad_input_through(
    decoder: SenmlDecoder, payload: object, reason: Reason
) -> None:
    """The decoder remembers each device's record shapes; a bad record of a remembered shape is still refused."""
    for unit in ("nSv/h", "uSv/h", None):
        record = {"n": "dose_rate", "v": 1, "t": NOW} | ({"u": unit} if unit else {})
        primed, reasons = decode(decoder, "gamma-01", [record, record])
        assert (len(primed), reasons) == (2, [])
    out, reasons = decode(decoder, "gamma-01", payload)
    assert reasons == [reason.value]
    assert len(out) == 0


def test_remembered_shapes_decode_exactly_like_the_first_time(decoder: SenmlDecoder) -> None:
    """Converted units, range flags, base names and relative times: the second decode equals the first."""
    payload = [
        {"bn": "gamma-01:", "bt": NOW - 10, "n": "dose_rate", "v": 0.25, "u": "uSv/h"},
        {"n": "dose_rate", "v": 90, "t": 1},
        {"n": "dose_rate", "v": 1e30, "u": "nSv/h", "t": 2},  # beyond any physical dose rate
        {"n": "dose_rate", "v": 3, "u": "uSv/h", "t": -4},
    ]
    first, first_reasons = decode(decoder, "gamma-01", payload)
    second, second_reasons = decode(decoder, "gamma-01", payload)
    assert first_reasons == second_reasons == []
    assert (first.sensor, first.time, first.value, first.flags) == (
        second.sensor,
        second.time,
        second.value,
        second.flags,
    )
    assert first.value[0] == pytest.approx(250.0)
    assert first.flags[2] & FLAG_OUT_OF_RANGE


def test_bad_records_do_not_spoil_good_ones(decoder: SenmlDecoder) -> None:
    """One unknown record in a message: the others are kept."""
    out, reasons = decode(
        decoder,
        "wx-01",
        [{"n": "wind_speed", "v": 3, "t": NOW}, {"n": "sunshine", "v": 1}, {"n": "rain", "v": 0, "t": NOW}],
    )
    assert reasons == ["unknown_sensor"]
    assert out.value == [3.0, 0.0]


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("other/demo-park/gamma-01", Reason.BAD_TOPIC),
        ("hazwatch/demo-park", Reason.BAD_TOPIC),
        ("hazwatch/elsewhere/gamma-01", Reason.UNKNOWN_SITE),
        ("hazwatch/demo-park/ghost", Reason.UNKNOWN_DEVICE),
    ],
)
def test_topics(decoder: SenmlDecoder, topic: str, reason: Reason) -> None:
    """Topics outside <prefix>/<site>/<device> are rejected with the reason."""
    _, reasons = decode(decoder, "", [{"n": "dose_rate", "v": 1}], topic=topic)
    assert reasons == [reason.value]


def test_status_topic(decoder: SenmlDecoder, table: SensorTable) -> None:
    """The retained status topic yields the device's online state."""
    result = decoder.decode("hazwatch/demo-park/gamma-01/status", b"offline", NOW, BatchBuilder())
    assert result.status is not None
    assert result.status.online is False
    assert table.devices[result.status.device].id == "gamma-01"
