"""The metrics render process outlives a SIGKILLed service by nothing: no traceback in the service's log, no files
left in /dev/shm (a kill-and-restart test found its traceback in the killed service's log)."""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.metrics.render_worker import STOP, serve

REPO = Path(__file__).resolve().parents[2]


def test_an_answer_nobody_reads_ends_the_worker_quietly(tmp_path: Path) -> None:
    body = pickle.dumps((1, []))
    requests = io.BytesIO(len(body).to_bytes(8, "big") + body)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the service is gone
    with os.fdopen(write_end, "wb", buffering=0) as answers:
        serve(tmp_path, requests, answers)  # returns, no BrokenPipeError


@pytest.mark.slow  # two interpreters started, one SIGKILLed
def test_a_killed_service_leaves_no_render_process_no_files_and_no_traceback(tmp_path: Path) -> None:
    _kill_the_service(
        tmp_path,
        """
assert worker.stdout.readline() == b"ready\\n"
body = pickle.dumps((1, []))
worker.stdin.write(len(body).to_bytes(8, "big") + body)
worker.stdin.flush()
""",  # then SIGKILL before reading the answer
    )


@pytest.mark.slow  # two interpreters started, one SIGKILLed
def test_a_service_killed_while_its_render_process_starts_leaves_no_traceback(tmp_path: Path) -> None:
    """The service starts the render process at its own start; a SIGKILL before "ready" was read made the child's
    "ready" a broken pipe, and its traceback landed in the service's log (seen in test_kill_and_restart)."""
    _kill_the_service(tmp_path, "")


@contextlib.contextmanager
def _worker(directory: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A render process started as the service starts it, once it said "ready"; its pipes closed at the end."""
    with subprocess.Popen(
        [sys.executable, "-m", "daemon.metrics.render_worker", str(directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ) as worker:
        assert worker.stdout is not None
        assert worker.stdout.readline() == b"ready\n"
        yield worker


def test_the_end_of_requests_while_the_service_is_still_its_parent_removes_the_files(tmp_path: Path) -> None:
    """A SIGKILLed service's pipes close before the kernel re-parents its children: the render process saw the end
    of its requests while getppid() still named the dying service, kept the files, and 3 of 4 kills of a crash loop
    (tests/faults/test_crash_loop.py) left a directory in /dev/shm. The end of requests without STOP is a death."""
    directory = tmp_path / "shm"
    directory.mkdir()
    with _worker(directory) as worker:  # this test is the service: its parent, alive throughout
        assert worker.stdin is not None
        worker.stdin.close()
        assert worker.wait(timeout=30) == 0
    assert not directory.exists()


def test_stop_leaves_the_files_to_the_service(tmp_path: Path) -> None:
    """STOP is the service ending the child on purpose (a restart reuses the directory): the files stay."""
    directory = tmp_path / "shm"
    directory.mkdir()
    with _worker(directory) as worker:
        assert worker.stdin is not None
        worker.stdin.write(STOP)
        worker.stdin.close()
        assert worker.wait(timeout=30) == 0
    assert directory.is_dir()


def _kill_the_service(tmp_path: Path, then: str) -> None:
    """A stand-in service starts the render process as the service does, runs ``then``, and is SIGKILLed: the worker
    must end, remove its files and write no traceback to the service's log."""
    directory = tmp_path / "shm"
    directory.mkdir()
    log = tmp_path / "service.log"
    pid_file = tmp_path / "worker.pid"
    service = f"""
import os, pickle, subprocess, sys
with open({str(log)!r}, "wb") as log:
    command = [sys.executable, "-m", "daemon.metrics.render_worker", {str(directory)!r}, str(os.getpid())]
    worker = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
open({str(pid_file)!r}, "w").write(str(worker.pid))
{then}
os.kill(os.getpid(), 9)
"""
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", service], cwd=REPO, env=environment, check=False)
    assert done.returncode == -9
    worker = int(pid_file.read_text())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (_alive(worker) or directory.exists()):
        time.sleep(0.05)
    assert not _alive(worker), "the render process outlived the service"
    assert not directory.exists(), "the render files were left behind"
    assert "Traceback" not in log.read_text(errors="replace")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (not yet reaped by init) counts as gone
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"
