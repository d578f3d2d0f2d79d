"""A gas-detection controller for tests: a pymodbus TCP server with holding and input registers."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

HOLDING_FC, INPUT_FC = 3, 4


STOP_TIMEOUT_S = 5.0


class Controller:
    """A pymodbus server on 127.0.0.1:``port`` whose unit ``unit_id`` has ``size`` holding and input registers."""

    def __init__(self, port: int, unit_id: int = 1, size: int = 32) -> None:
        self.port = port
        self.unit_id = unit_id
        self.size = size
        self.holding = [0] * size
        self.input = [0] * size
        self._server: ModbusTcpServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Serve (again, after ``stop``: a restarted controller keeps its register values)."""
        no_bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
        device = SimDevice(
            id=self.unit_id,
            simdata=(
                no_bits,
                no_bits,
                [SimData(0, values=list(self.holding), datatype=DataType.REGISTERS)],
                [SimData(0, values=list(self.input), datatype=DataType.REGISTERS)],
            ),
        )
        self._server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
        self._task = asyncio.create_task(self._server.serve_forever())
        for _ in range(100):  # until it listens
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the test controller did not start")

    async def set(self, function_code: int, address: int, values: list[int]) -> None:
        """Change registers (function code 3: holding, 4: input)."""
        table = self.holding if function_code == HOLDING_FC else self.input
        table[address : address + len(values)] = values
        if self._server is not None:
            await self._server.async_setValues(self.unit_id, function_code, address, values)

    async def stop(self) -> None:
        """Stop serving (a controller switched off or restarting)."""
        # Bounded: pymodbus's shutdown can wait on a client connection that is still open (the service's poller),
        # and a switched-off controller does not wait for its clients. Past the bound the serving task is cancelled,
        # which closes the listening socket all the same.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_TIMEOUT_S):
                if self._server is not None:
                    await self._server.shutdown()  # type: ignore[no-untyped-call]  # pymodbus ships it untyped
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._server = self._task = None


class SilentController:
    """Accepts Modbus TCP connections and never answers (a hung controller or a dead gateway behind a switch)."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        """Listen on a free port."""
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(1024):
            pass
        writer.close()

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
