"""Send a large /metrics exposition: a rendered file with sendfile(2), bytes in slices, giving the loop back."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import BinaryIO

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from daemon.metrics.exposition import Scrape

# A 10,000-sensor exposition is ~25 MB. Handed to the transport in one piece (``web.Response(body=...)``), it is
# copied into the transport's buffer in one go and every later ``send`` works on that one buffer; in slices of
# this size each step is short (~0.1 ms of copying) and the loop runs the alarm path in between.
SLICE_BYTES = 256 * 1024


async def send_scrape(request: web.Request, scrape: Scrape) -> web.StreamResponse:
    """Send one scrape: its parts, then its file (if any) by sendfile(2), as one response with a known length."""
    try:
        response = await _start(request, scrape.size)
        if request.method == "HEAD":
            return response
        await _write_parts(response, scrape.parts)
        if scrape.file is not None:
            await _send_file(request, scrape.file, scrape.file_size)
        await response.write_eof()
        return response
    finally:
        # Closing the last descriptor of the unlinked file frees its pages (25 MB at city scale): ~10 ms of kernel
        # work measured on the loop's thread, so it happens in a worker thread (no GIL needed while it runs).
        await asyncio.to_thread(scrape.close)


async def _send_file(request: web.Request, file: BinaryIO, size: int) -> None:
    """The kernel copies the file to the socket (page cache to socket buffer): no Python object is built and the
    GIL is released during each copy, but the loop's thread waits for it; in slices of ``SLICE_BYTES`` each wait is
    short (one call could copy several MB into a loopback socket's buffer). asyncio falls back to reads and writes
    where the transport cannot (TLS); aiohttp's FileResponse sends files the same way."""
    loop = asyncio.get_running_loop()
    for offset in range(0, size, SLICE_BYTES):
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the scraper went away")
        await loop.sendfile(transport, file, offset, min(SLICE_BYTES, size - offset))


async def send_exposition(request: web.Request, parts: Sequence[bytes]) -> web.StreamResponse:
    """Stream ``parts`` (joined, they are the exposition) as one response with a known length."""
    response = await _start(request, sum(len(part) for part in parts))
    if request.method == "HEAD":
        return response
    await _write_parts(response, parts)
    await response.write_eof()
    return response


async def _start(request: web.Request, size: int) -> web.StreamResponse:
    response = web.StreamResponse()
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST  # as prometheus_client's own server sends it
    response.content_length = size
    await response.prepare(request)
    if request.method == "HEAD":  # aiohttp sends whatever a StreamResponse writes, even to HEAD (RFC 9110 9.3.2)
        await response.write_eof()
    return response


async def _write_parts(response: web.StreamResponse, parts: Sequence[bytes]) -> None:
    for part in parts:
        view = memoryview(part)
        for start in range(0, len(view), SLICE_BYTES):
            await response.write(view[start : start + SLICE_BYTES])
            # ``write`` waits only when the transport's buffer is full; a fast reader would otherwise let the whole
            # body go out in one loop step.
            await asyncio.sleep(0)
