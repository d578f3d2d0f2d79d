"""`hazwatch run --demo` as a user runs it: comes up on embedded defaults, serves, stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import io
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import free_port
from tests.helpers import eventually, run_cli


@pytest.mark.slow  # a real interpreter, cold imports, decode workers and a clean stop: 10-30 s, and it must stay real
async def test_run_demo_and_stop_cleanly(tmp_path: Path) -> None:
    """Healthy within seconds, readings flowing, exit 0 after SIGTERM with a clean-stop log line."""
    broker_port, http_port = free_port(), free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "daemon.cli", "run", "--demo",
        "--broker", f"embedded:127.0.0.1:{broker_port}",
        "--db", f"sqlite:///{tmp_path / 'demo.db'}",
        "--http", f"127.0.0.1:{http_port}",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        async with aiohttp.ClientSession() as session:

            async def readings_flowing() -> float:
                try:
                    async with session.get(f"http://127.0.0.1:{http_port}/metrics") as response:
                        text = await response.text()
                except aiohttp.ClientError:
                    return 0.0
                line = next((x for x in text.splitlines() if x.startswith("hazwatch_ingest_readings_total ")), "")
                return float(line.split()[1]) if line else 0.0

            assert await eventually(readings_flowing, timeout=60) > 0  # a cold start imports scipy and the drill stack
            async with session.get(f"http://127.0.0.1:{http_port}/healthz") as response:
                assert response.status == 200
                assert (await response.json())["status"] == "ok"
            # The demo opens the read-only side to a newcomer: alarms and the console, no token needed.
            async with session.get(f"http://127.0.0.1:{http_port}/api/alarms") as response:
                assert response.status == 200
                assert "alarms" in await response.json()
            async with session.get(f"http://127.0.0.1:{http_port}/") as response:
                assert response.status == 200
                assert "hazwatch" in (await response.text()).lower()
            # Acting still needs a token.
            async with session.post(f"http://127.0.0.1:{http_port}/api/alarms/1/acknowledge", json={}) as response:
                assert response.status == 401
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 90)  # a loaded machine stops slowly; still bounded
    assert process.returncode == 0, output.decode()
    assert b"hazwatch stopped cleanly" in output
    assert b"Traceback" not in output


def test_taken_http_port_is_one_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process holds the HTTP port: one line on stderr, exit 2, and nothing started (no database file).

    In this process (``run_cli``): the check, its message and the exit status are ``main``'s; a cold interpreter adds
    nothing to them but seconds (the process itself is proven by the demo run above)."""
    monkeypatch.chdir(tmp_path)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_cli(
            "run",
            "--broker", f"embedded:127.0.0.1:{free_port()}",
            "--db", f"sqlite:///{tmp_path / 'taken.db'}",
            "--http", f"127.0.0.1:{port}",
        )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [f"hazwatch: cannot serve HTTP on 127.0.0.1:{port}: the port is in use (another hazwatch?); "
                     f"choose another with --http 127.0.0.1:PORT or [http] port in the config"]  # fmt: skip
    assert not (tmp_path / "taken.db").exists()
    assert list(tmp_path.iterdir()) == []  # nothing else either (no spool, no recording folder)


def test_help_lists_every_command_without_importing_them() -> None:
    """`hazwatch --help` builds only the top-level parser: no scipy, drill stack or database layer imported."""
    probe = (
        "import sys, contextlib, io\n"
        "from daemon import cli\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    cli.main(['--help'])\n"
        "heavy = [m for m in ('scipy', 'numpy', 'sqlalchemy', 'daemon.drills', 'daemon.service') if m in sys.modules]\n"
        "print(heavy, 'replay' in out.getvalue() and 'user' in out.getvalue())\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[] True"


@pytest.mark.slow  # a real interpreter with cold imports, stopped by a signal: about 2 CPU-s
async def test_sigterm_while_the_start_waits_on_a_silent_database_ends_the_process(tmp_path: Path) -> None:
    """A database that accepts connections and never answers holds the start (migrations wait on it); SIGTERM then
    abandons the start and the process exits instead of waiting for an answer that never comes."""
    silent = socket.create_server(("127.0.0.1", 0))  # connections are accepted; nobody ever answers them
    silent.setblocking(False)
    port = silent.getsockname()[1]
    held: list[socket.socket] = []
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "daemon.cli", "run",
        "--broker", f"embedded:127.0.0.1:{free_port()}",
        "--db", f"postgresql://hazwatch@127.0.0.1:{port}/hazwatch",
        "--http", f"127.0.0.1:{free_port()}",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        # The start is under way (signal handlers in place) once it connects to the silent database.
        connection, _ = await asyncio.wait_for(asyncio.get_running_loop().sock_accept(silent), 60)
        held.append(connection)
        await asyncio.sleep(0.5)
        assert process.returncode is None, "the start did not wait on the silent database"
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        for connection in held:
            connection.close()
        silent.close()
    text = output.decode(errors="replace")
    assert "stop requested while starting" in text, text[-2000:]


def test_every_registered_command_is_reachable_by_name() -> None:
    """Each module named in COMMANDS registers only commands COMMANDS lists, so none is unreachable when the
    parser builds only the chosen module (``hazwatch drill`` was: "invalid choice")."""
    import argparse
    import importlib

    from daemon import cli

    for module_name in {module for module, _ in cli.COMMANDS.values()}:
        parser = argparse.ArgumentParser()
        subparsers = parser.add_subparsers(dest="command")
        importlib.import_module(module_name).register(subparsers)
        assert set(subparsers.choices) <= set(cli.COMMANDS), (module_name, set(subparsers.choices))
    # The parser ``main`` builds for a chosen command, in this process: the modules are imported above, and a cold
    # interpreter would add nothing to what ``build_parser`` reaches but seconds.
    first_lines = []
    for argv in (["drill", "start", "--help"], ["drill", "compare", "--help"]):
        with contextlib.redirect_stdout(io.StringIO()) as out, pytest.raises(SystemExit) as exited:
            cli.build_parser(argv).parse_args(argv)
        assert exited.value.code == 0, out.getvalue()
        first_lines.append(out.getvalue().splitlines()[0])
    assert first_lines[0].startswith("usage: hazwatch drill start ")
    assert first_lines[1].startswith("usage: hazwatch drill compare ")
