"""Fuzzing the HJ 212 framer: any bytes in any pieces are all accounted for, and good packets survive."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.ingest.hj212.framing import HEADER_BYTES, TAIL_BYTES, BadFrame, Frame, Framer, encode_frame

MAX_DATA = 256
segment_chars = st.text(alphabet="QNSTCPWMFlag=;,&-.0123456789abcdefxyz", max_size=MAX_DATA)
segments = st.lists(segment_chars.map(str.encode), min_size=1, max_size=8)
garbage = st.binary(max_size=40).filter(lambda b: b"#" not in b)


def run(stream: bytes, cuts: list[int]) -> tuple[list[Frame | BadFrame], BadFrame | None, Framer]:
    framer = Framer(max_data_bytes=MAX_DATA)
    items: list[Frame | BadFrame] = []
    start = 0
    for cut in [*sorted({min(c, len(stream)) for c in cuts}), len(stream)]:
        items += framer.feed(stream[start:cut])
        start = cut
        assert framer.pending <= HEADER_BYTES + MAX_DATA + TAIL_BYTES + 1
    return items, framer.close(), framer


@settings(max_examples=80, deadline=None)
@given(stream=st.binary(max_size=2000), cuts=st.lists(st.integers(0, 2000), max_size=20))
def test_any_bytes_are_accounted_for(stream: bytes, cuts: list[int]) -> None:
    items, leftover, _ = run(stream, cuts)
    raw = b"".join(item.raw for item in items) + (leftover.raw if leftover else b"")
    assert raw == stream


@settings(max_examples=60, deadline=None)
@given(data=segments, cuts=st.lists(st.integers(0, 3000), max_size=20))
def test_good_packets_in_any_pieces(data: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(encode_frame(d) for d in data)
    items, leftover, _ = run(stream, cuts)
    assert leftover is None
    assert [item.data for item in items if isinstance(item, Frame)] == data
    assert all(isinstance(item, Frame) for item in items)


@settings(max_examples=60, deadline=None)
@given(data=segments, noise=st.lists(garbage, min_size=8, max_size=8), cuts=st.lists(st.integers(0, 3000), max_size=10))
def test_good_packets_survive_noise_between_them(data: list[bytes], noise: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(junk + encode_frame(d) for d, junk in zip(data, noise, strict=False))
    items, _, _ = run(stream, cuts)
    assert [item.data for item in items if isinstance(item, Frame)] == data


@settings(max_examples=60, deadline=None)
@given(data=segments, damage=st.integers(0, 10_000), byte=st.integers(0, 255))
def test_one_damaged_byte_never_yields_a_wrong_frame(data: list[bytes], damage: int, byte: int) -> None:
    stream = bytearray(b"".join(encode_frame(d) for d in data))
    position = damage % len(stream)
    stream[position] = byte
    items, _, _ = run(bytes(stream), [])
    # Every frame that passes is one of the packets sent (CRC-16 catches a single damaged byte).
    assert all(item.data in data for item in items if isinstance(item, Frame))
