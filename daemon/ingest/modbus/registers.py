"""A controller's register map, pure: which blocks to read, and values and status bits from the registers read."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from detectors.readings import FLAG_CALIBRATION, FLAG_DEVICE_FAULT, FLAG_OUT_OF_SERVICE
from rules.site_protocols import ByteOrder, ModbusStatus, ModbusValue, RegisterTable, RegisterType

# Modbus Application Protocol V1.1b3 6.3/6.4: one read returns at most 125 registers.
MAX_REGISTERS_PER_READ = 125
# Registers between two wanted ones that are still read in the same request (one round trip beats two).
MAX_GAP = 16
_WIDTH = {
    RegisterType.UINT16: 1,
    RegisterType.INT16: 1,
    RegisterType.UINT32: 2,
    RegisterType.INT32: 2,
    RegisterType.FLOAT32: 2,
}
_STRUCT = {
    RegisterType.UINT16: "H",
    RegisterType.INT16: "h",
    RegisterType.UINT32: "I",
    RegisterType.INT32: "i",
    RegisterType.FLOAT32: "f",
}


def width(kind: RegisterType) -> int:
    """Registers one value of this type occupies."""
    return _WIDTH[kind]


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: a table, a start address and a count."""

    table: RegisterTable
    address: int
    count: int


def plan_reads(values: list[ModbusValue], status: list[ModbusStatus]) -> list[ReadBlock]:
    """Group the wanted registers into as few reads as the protocol allows."""
    wanted: dict[RegisterTable, list[tuple[int, int]]] = {}
    for value in values:
        wanted.setdefault(value.table, []).append((value.address, value.address + width(value.type)))
    for register in status:
        wanted.setdefault(register.table, []).append((register.address, register.address + 1))
    blocks: list[ReadBlock] = []
    for table, spans in wanted.items():
        spans.sort()
        start, end = spans[0]
        for low, high in spans[1:]:
            if low - end <= MAX_GAP and max(end, high) - start <= MAX_REGISTERS_PER_READ:
                end = max(end, high)
            else:
                blocks.append(ReadBlock(table, start, end - start))
                start, end = low, high
        blocks.append(ReadBlock(table, start, end - start))
    return blocks


def decode_value(registers: list[int], value: ModbusValue) -> float:
    """The value in the sensor's declared unit: raw registers by type, byte and word order, then scale and offset."""
    words = list(registers[: width(value.type)])
    if value.word_order is ByteOrder.LITTLE:
        words.reverse()
    raw = b"".join(word.to_bytes(2, "big" if value.byte_order is ByteOrder.BIG else "little") for word in words)
    (number,) = struct.unpack(">" + _STRUCT[value.type], raw)
    result = float(number) * value.scale + value.offset
    return result if math.isfinite(result) else math.nan


def status_flags(word: int, status: ModbusStatus) -> int:
    """Quality bits a status register sets: fault, calibration, maintenance."""
    flags = 0
    if any(word >> bit & 1 for bit in status.fault_bits):
        flags |= int(FLAG_DEVICE_FAULT)
    if any(word >> bit & 1 for bit in status.calibration_bits):
        flags |= int(FLAG_CALIBRATION)
    if any(word >> bit & 1 for bit in status.maintenance_bits):
        flags |= int(FLAG_OUT_OF_SERVICE)
    return flags


def alarm_raised(word: int, status: ModbusStatus) -> bool:
    """The controller's own alarm bits say alarm."""
    return any(word >> bit & 1 for bit in status.alarm_bits)


def register_at(blocks: dict[ReadBlock, list[int]], table: RegisterTable, address: int, count: int) -> list[int] | None:
    """The registers ``address .. address+count-1`` of ``table`` from the blocks read (None if not read)."""
    for block, registers in blocks.items():
        if block.table is table and block.address <= address and address + count <= block.address + block.count:
            offset = address - block.address
            return registers[offset : offset + count]
    return None
