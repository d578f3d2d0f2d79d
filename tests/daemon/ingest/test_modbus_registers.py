"""Register maps: read planning, value decoding by type, byte and word order, status bits."""

from __future__ import annotations

import math
import struct

import pytest

from daemon.ingest.modbus.registers import (
    MAX_REGISTERS_PER_READ,
    ReadBlock,
    decode_value,
    plan_reads,
    register_at,
    status_flags,
)
from detectors.readings import FLAG_CALIBRATION, FLAG_DEVICE_FAULT, FLAG_OUT_OF_SERVICE
from rules.site_protocols import ModbusStatus, ModbusValue, RegisterTable


def value(**kwargs: object) -> ModbusValue:
    return ModbusValue.model_validate({"sensor": "x", "address": 0, **kwargs})


def words(packed: bytes) -> list[int]:
    return [int.from_bytes(packed[i : i + 2], "big") for i in range(0, len(packed), 2)]


def test_uint16_scaled() -> None:
    assert decode_value([250], value(scale=0.01)) == pytest.approx(2.5)


def test_int16_negative_with_offset() -> None:
    assert decode_value([0xFFFE], value(type="int16", offset=10)) == 8.0


def test_float32_in_all_four_orders() -> None:
    big = words(struct.pack(">f", 12.75))  # [high word, low word], bytes big-endian: "ABCD"
    assert decode_value(big, value(type="float32")) == 12.75
    assert decode_value(big[::-1], value(type="float32", word_order="little")) == 12.75  # "CDAB"
    swapped = [int.from_bytes(w.to_bytes(2, "big"), "little") for w in big]  # "BADC"
    assert decode_value(swapped, value(type="float32", byte_order="little")) == 12.75
    assert decode_value(swapped[::-1], value(type="float32", byte_order="little", word_order="little")) == 12.75


def test_uint32_and_int32() -> None:
    assert decode_value([0x0001, 0x0000], value(type="uint32")) == 65536.0
    assert decode_value([0x0000, 0x0001], value(type="uint32", word_order="little")) == 65536.0
    assert decode_value([0xFFFF, 0xFFFF], value(type="int32")) == -1.0


def test_nan_float_is_reported_as_nan() -> None:
    assert math.isnan(decode_value(words(struct.pack(">f", math.nan)), value(type="float32")))


def test_reads_are_grouped_within_the_protocol_limit() -> None:
    values = [
        value(address=0),
        value(address=1),
        value(address=10, type="float32"),
        value(address=200),
        value(address=5, table="input"),
    ]
    status = [ModbusStatus(address=20, fault_bits=[0])]
    blocks = plan_reads(values, status)
    assert set(blocks) == {
        ReadBlock(RegisterTable.HOLDING, 0, 21),
        ReadBlock(RegisterTable.HOLDING, 200, 1),
        ReadBlock(RegisterTable.INPUT, 5, 1),
    }
    far = plan_reads([value(address=i * 10) for i in range(30)], [])
    assert all(block.count <= MAX_REGISTERS_PER_READ for block in far)
    assert sum(1 for _ in far) == 3


def test_register_at_finds_a_value_inside_a_block() -> None:
    read = {ReadBlock(RegisterTable.HOLDING, 10, 5): [1, 2, 3, 4, 5]}
    assert register_at(read, RegisterTable.HOLDING, 12, 2) == [3, 4]
    assert register_at(read, RegisterTable.HOLDING, 14, 2) is None
    assert register_at(read, RegisterTable.INPUT, 12, 1) is None


def test_status_bits_become_quality_flags() -> None:
    status = ModbusStatus(address=0, fault_bits=[0, 3], calibration_bits=[1], maintenance_bits=[2])
    assert status_flags(0, status) == 0
    assert status_flags(0b1000, status) == FLAG_DEVICE_FAULT
    assert status_flags(0b0010, status) == FLAG_CALIBRATION
    assert status_flags(0b0110, status) == FLAG_CALIBRATION | FLAG_OUT_OF_SERVICE


def test_bits_beyond_a_register_are_refused() -> None:
    with pytest.raises(ValueError, match="0-15"):
        ModbusStatus(address=0, fault_bits=[16])
