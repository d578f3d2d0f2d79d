"""How a device is reached when it does not publish SenML over MQTT: HJ 212-2017 over TCP, or Modbus TCP polling."""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import Field, model_validator

from rules.strict import FrozenModel


class Hj212Upload(StrEnum):
    """Which HJ 212-2017 upload feeds the device's sensors (the others are acknowledged, not used)."""

    REALTIME = "2011"
    MINUTE = "2051"
    HOUR = "2061"
    DAY = "2031"


class Hj212Link(FrozenModel):
    """A data logger speaking HJ 212-2017: known by its MN, checked with its PW."""

    mn: str = Field(description="The logger's MN (device unique identifier, HJ 212-2017 6.3.2).", min_length=1)
    password: str = Field(description="PW the logger sends (HJ 212-2017 access password).", min_length=1)
    upload: Hj212Upload = Field(
        Hj212Upload.REALTIME,
        description="Which upload becomes readings: 2011 real-time (Rtd), 2051 minute, 2061 hour or 2031 day (Avg).",
    )
    codes: dict[str, str] = Field(
        min_length=1,
        description="Pollutant or parameter code (HJ 212-2017 Annex B, e.g. a21026) -> sensor name of this device.",
    )


class RegisterTable(StrEnum):
    """Modbus data tables a value may live in."""

    HOLDING = "holding"
    INPUT = "input"


class RegisterType(StrEnum):
    """How the registers of a value are read."""

    UINT16 = "uint16"
    INT16 = "int16"
    UINT32 = "uint32"
    INT32 = "int32"
    FLOAT32 = "float32"


class ByteOrder(StrEnum):
    """Order of bytes within a register, or of registers within a 32-bit value."""

    BIG = "big"
    LITTLE = "little"


class ModbusValue(FrozenModel):
    """One measured value in the controller's register map."""

    sensor: str = Field(description="Sensor name of this device the value feeds.")
    table: RegisterTable = Field(RegisterTable.HOLDING, description="Holding or input registers.")
    address: int = Field(ge=0, le=65535, description="Zero-based register address.")
    type: RegisterType = Field(RegisterType.UINT16, description="Data type of the register(s).")
    scale: float = Field(1.0, description="value = raw * scale + offset, in the sensor's declared unit.")
    offset: float = Field(0.0, description="Added after scaling.")
    byte_order: ByteOrder = Field(ByteOrder.BIG, description="Byte order within each register (Modbus: big).")
    word_order: ByteOrder = Field(ByteOrder.BIG, description="Register order of 32-bit values (big: high first).")


class ModbusStatus(FrozenModel):
    """A status register of the controller, with the bits that say fault, calibration or alarm."""

    sensor: str | None = Field(None, description="Sensor this register describes; none: every sensor of the device.")
    table: RegisterTable = Field(RegisterTable.HOLDING, description="Holding or input registers.")
    address: int = Field(ge=0, le=65535, description="Zero-based register address.")
    fault_bits: list[int] = Field(default_factory=list, description="Bits (0-15) meaning detector fault.")
    calibration_bits: list[int] = Field(default_factory=list, description="Bits (0-15) meaning calibration.")
    maintenance_bits: list[int] = Field(default_factory=list, description="Bits (0-15) meaning maintenance/inhibit.")
    alarm_bits: list[int] = Field(
        default_factory=list,
        description="Bits (0-15) of the controller's own alarm: logged when they disagree with hazwatch's levels.",
    )

    @model_validator(mode="after")
    def _bits(self) -> Self:
        for bits in (self.fault_bits, self.calibration_bits, self.maintenance_bits, self.alarm_bits):
            for bit in bits:
                if not 0 <= bit <= 15:
                    raise ValueError(f"bit {bit} is not 0-15")
        return self


class ModbusLink(FrozenModel):
    """A gas-detection controller read by Modbus TCP polling."""

    host: str = Field(description="Controller (or gateway) address.")
    port: int = Field(502, ge=1, le=65535, description="Modbus TCP port.")
    unit_id: int = Field(1, ge=0, le=255, description="Modbus unit (slave) id.")
    poll_interval_s: float = Field(5.0, gt=0, description="Seconds between polls.")
    timeout_s: float = Field(2.0, gt=0, description="A request unanswered this long is a failed poll.")
    offline_after_failures: int = Field(2, ge=1, description="Consecutive failed polls before the device is offline.")
    values: list[ModbusValue] = Field(min_length=1, description="The register map of measured values.")
    status: list[ModbusStatus] = Field(default_factory=list, description="Status registers with their bits.")
