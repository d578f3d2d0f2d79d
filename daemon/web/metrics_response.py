"""Send a large /metrics exposition in slices, giving the event loop back between them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# A 10,000-sensor exposition is ~25 MB. Handed to the transport in one piece (``web.Response(body=...)``), it is
# copied into the transport's buffer in one go and every later ``send`` works on that one buffer; in slices of
# this size each step is short (~0.1 ms of copying) and the loop runs the alarm path in between.
SLICE_BYTES = 256 * 1024


async def send_exposition(request: web.Request, parts: Sequence[bytes]) -> web.StreamResponse:
    """Stream ``parts`` (joined, they are the exposition) as one response with a known length."""
    response = web.StreamResponse()
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST  # as prometheus_client's own server sends it
    response.content_length = sum(len(part) for part in parts)
    await response.prepare(request)
    if request.method == "HEAD":  # aiohttp sends whatever a StreamResponse writes, even to HEAD (RFC 9110 9.3.2)
        await response.write_eof()
        return response
    for part in parts:
        view = memoryview(part)
        for start in range(0, len(view), SLICE_BYTES):
            await response.write(view[start : start + SLICE_BYTES])
            # ``write`` waits only when the transport's buffer is full; a fast reader would otherwise let the whole
            # body go out in one loop step.
            await asyncio.sleep(0)
    await response.write_eof()
    return response
