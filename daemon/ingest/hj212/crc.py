"""The CRC of HJ 212-2017 frames, exactly as the standard's Annex A defines it.

The standard's algorithm is not the Modbus CRC-16 although it uses the same reflected polynomial
0xA001 and start value 0xFFFF: each byte is XORed into the register after the register has been
shifted right by 8 (``crc = (crc >> 8) ^ byte``), where Modbus XORs the byte into the low byte
without the shift. Loggers implement the standard's version, so that is what we check.
"""

from __future__ import annotations

POLYNOMIAL = 0xA001
START = 0xFFFF


def _table() -> tuple[int, ...]:
    # The eight shift-and-XOR steps depend only on the register's low byte after the XOR, so they are
    # precomputed for all 256 values (same result as the standard's bit loop, about 8x faster in Python).
    table = []
    for low in range(256):
        register = low
        for _ in range(8):
            register = (register >> 1) ^ POLYNOMIAL if register & 1 else register >> 1
        table.append(register)
    return tuple(table)


_TABLE = _table()


def crc16(data: bytes) -> int:
    """CRC of an HJ 212-2017 data segment (HJ 212-2017 Annex A, ``CRC16_Checkout``)."""
    register = START
    table = _TABLE
    for byte in data:
        register = (register >> 8) ^ byte
        # The standard's loop shifts the whole register 8 times; the high byte (the part that is not the
        # low byte) only moves right by 8 bits, XORed with the table entry of the low byte.
        register = (register >> 8) ^ table[register & 0xFF]
    return register


def crc16_bitwise(data: bytes) -> int:
    """The standard's bit loop, literally (reference for the table version)."""
    register = START
    for byte in data:
        register = (register >> 8) ^ byte
        for _ in range(8):
            check = register & 0x0001
            register >>= 1
            if check:
                register ^= POLYNOMIAL
    return register
