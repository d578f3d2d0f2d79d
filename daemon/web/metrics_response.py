"""Send a large /metrics exposition: a rendered file with sendfile(2), bytes in slices, giving the loop back."""

from __future__ import annotations

import asyncio
import os
import select
from collections.abc import Sequence
from typing import BinaryIO

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from daemon.metrics.exposition import Scrape

# A 10,000-sensor exposition is ~25 MB. Handed to the transport in one piece (``web.Response(body=...)``), it is
# copied into the transport's buffer in one go and every later ``send`` works on that one buffer; in slices of
# this size each step is short (~0.1 ms of copying) and the loop runs the alarm path in between.
SLICE_BYTES = 256 * 1024
# A scraper that stops reading for this long is given up (Prometheus' own scrape_timeout is 10 s by default).
SEND_STALL_S = 60.0


async def send_scrape(request: web.Request, scrape: Scrape) -> web.StreamResponse:
    """Send one scrape: its parts, then its rendered file (if any) by sendfile(2), as one response."""
    try:
        response = await _start(request, scrape.size)
        if request.method == "HEAD":
            return response
        await _write_parts(response, scrape.parts)
        if scrape.rendered is not None:
            await _send_file(request, scrape.rendered.file, scrape.rendered.size)
        await response.write_eof()
        return response
    finally:
        scrape.close()


async def _send_file(request: web.Request, file: BinaryIO, size: int) -> None:
    """The first ``size`` bytes of ``file`` to the request's socket, copied by the kernel in a worker thread.

    sendfile(2) copies page cache to the socket without building any Python object, and releases the GIL for the
    copy; on the loop's own thread (``loop.sendfile``) the copies of a 25 MB body still cost ~11 ms of that
    thread's CPU per scrape, measured. In a worker thread the loop only waits. The thread writes to a duplicate of
    the socket's descriptor while the transport has nothing buffered and reads nothing (as ``loop.sendfile``
    does), so the transport's own writes cannot interleave, and a connection closed meanwhile cannot hand the
    number to another file. Over TLS the kernel cannot encrypt: ``loop.sendfile`` then reads and writes.
    """
    transport = request.transport
    if transport is None or transport.is_closing():
        raise ConnectionResetError("the scraper went away")
    sock = transport.get_extra_info("socket")
    if sock is None or transport.get_extra_info("sslcontext") is not None:
        await asyncio.get_running_loop().sendfile(transport, file, 0, size)
        return
    while transport.get_write_buffer_size():  # the headers and the registry's text go first
        if transport.is_closing():
            raise ConnectionResetError("the scraper went away")
        await asyncio.sleep(0.001)
    reading = transport.is_reading()
    transport.pause_reading()
    descriptor = os.dup(sock.fileno())
    try:
        await asyncio.to_thread(_sendfile_all, descriptor, file.fileno(), size)
    finally:
        os.close(descriptor)
        if reading and not transport.is_closing():
            transport.resume_reading()


def _sendfile_all(socket_fd: int, file_fd: int, size: int) -> None:
    """Blocking (in a worker thread): sendfile until ``size`` bytes are sent; the socket is non-blocking."""
    poller = select.poll()
    poller.register(socket_fd, select.POLLOUT)
    offset = 0
    while offset < size:
        try:
            sent = os.sendfile(socket_fd, file_fd, offset, size - offset)
        except BlockingIOError:
            if not poller.poll(SEND_STALL_S * 1000):
                raise TimeoutError(f"the scraper read nothing for {SEND_STALL_S:g} s") from None
            continue
        if sent == 0:
            raise EOFError(f"the rendered file ends at {offset} of {size} bytes")
        offset += sent


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
