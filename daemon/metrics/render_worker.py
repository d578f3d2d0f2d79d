"""The render process: writes the per-sensor families of each scrape to a file, away from the service's GIL.

    python -m daemon.metrics.render_worker DIRECTORY

Imports the modules whose layouts it renders and says ``ready`` on stdout. Then reads requests on stdin, each an
8-byte big-endian length and a pickle of ``(number, frames)``, where a frame is ``(key, layout or None, state)``:
a layout is sent once and kept by its key, later frames name it only. Renders the frames in order into
``DIRECTORY/<number>.prom`` (over the old content, keeping its pages: see ``render_process``) and answers one
line on stdout: ``ok <bytes>`` or ``error <text>``. A request of length 0 (``STOP``) is the service stopping this
process: it exits and leaves the directory to the service (which may start the next child in it). The end of stdin
without ``STOP`` means the service died: this process removes the directory and exits (no orphan, no files left).

The pickles come from the service that started this process over its own pipe, never from anywhere else.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, BinaryIO

# The layouts' classes (unpickling imports them anyway; imported here, before "ready", the first scrape does not wait).
import daemon.metrics.sensors
import daemon.metrics.status  # noqa: F401
from daemon.metrics.text_format import Layout

HEADER_BYTES = 8
STOP = bytes(HEADER_BYTES)  # a request of length 0: the service stops this process and keeps the directory
# Below the service's own priority: on a machine with two cores a render takes a core for ~0.1 s per 10,000
# sensors, and the kernel should give the alarm path's thread the CPU first (nice(2), sched(7): a niceness of 10
# weighs ~10 times less than 0 under CFS). A scrape may be a little slower; an alarm must not be.
NICENESS = 10


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve(directory: Path, requests: BinaryIO, answers: BinaryIO) -> bool:
    """Answer requests until ``STOP`` (returns True), or until ``requests`` ends or nobody reads the answers: the
    service died, mid-request or between requests (returns False)."""
    try:
        return _serve(directory, requests, answers)
    except BrokenPipeError:  # a SIGKILLed service: its log must not get this process's traceback
        return False


def _serve(directory: Path, requests: BinaryIO, answers: BinaryIO) -> bool:
    layouts: dict[int, Layout] = {}
    while True:
        header = _read_exactly(requests, HEADER_BYTES)
        if header is None:
            return False
        if header == STOP:
            return True
        body = _read_exactly(requests, int.from_bytes(header, "big"))
        if body is None:
            return False
        try:
            number, frames = pickle.loads(body)  # noqa: S301 - the service's own pipe (see the module's doc)
            size = _render(directory / f"{int(number)}.prom", frames, layouts)
        except Exception as exc:  # answer with what went wrong; the service renders this scrape itself
            traceback.print_exc(file=sys.stderr)
            answers.write(f"error {type(exc).__name__}: {exc}".replace("\n", " ").encode() + b"\n")
        else:
            answers.write(f"ok {size}\n".encode())
        answers.flush()


def _render(path: Path, frames: list[tuple[int, Layout | None, Any]], layouts: dict[int, Layout]) -> int:
    for key, layout, _ in frames:
        if layout is not None:
            layouts[key] = layout
    wanted = {key for key, _, _ in frames}
    for key in [k for k in layouts if k not in wanted]:  # replaced by a reload: the service no longer sends it
        del layouts[key]
    size = 0
    with path.open("r+b" if path.exists() else "wb") as out:  # r+b: no truncation, the pages are written over
        for key, _, state in frames:
            size += out.write(layouts[key].render(state))
        out.truncate(size)
    return size


def main() -> None:
    """Serve the directory given as the one argument."""
    directory = Path(sys.argv[1])
    # Ctrl-C in a terminal reaches the whole process group: the service stops itself and then this process (end of
    # stdin), so the child must not die first with a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):  # not allowed here: render at the service's priority
        os.nice(NICENESS)
    stopped = False
    with contextlib.suppress(BrokenPipeError):  # killed while this process was starting: nobody reads "ready"
        sys.stdout.buffer.write(b"ready\n")
        sys.stdout.buffer.flush()
        stopped = serve(directory, sys.stdin.buffer, sys.stdout.buffer)
    # Without STOP the service died, and nobody else removes the files. (Asking whether this process was re-parented
    # raced the kernel: a dying service's pipes close before its children are re-parented, so the end of stdin
    # often came while getppid() still named the dead service, and 3 of 4 SIGKILLs left the directory behind.)
    if not stopped:
        shutil.rmtree(directory, ignore_errors=True)
    with contextlib.suppress(BrokenPipeError):  # the interpreter's own flush at exit, to a pipe nobody reads
        sys.stdout.close()


if __name__ == "__main__":
    main()
