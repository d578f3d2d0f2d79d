"""``hazwatch run``: start the service."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
from pathlib import Path

from daemon.config import load_config
from daemon.errors import ConfigError
from daemon.service import Service
from daemon.site_file import load_site

log = logging.getLogger(__name__)
STOP_GRACE_S = 30.0  # beyond the database's stop timeout: what an orderly stop may take before it is given up
EXIT_STOP_TIMEOUT = 3
START_ABANDON_S = 5.0  # how long a cancelled start may take to unwind before the stop goes ahead anyway


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``run`` parser."""
    parser = subparsers.add_parser("run", help="run the monitoring service")
    parser.add_argument("--config", type=Path, help="service config (TOML); defaults built in")
    parser.add_argument("--site", type=Path, help="site file (YAML); default: the demo park")
    parser.add_argument("--broker", help="embedded[:HOST:PORT] (default) or mqtt[s]://[user[:pass]@]host[:port]")
    parser.add_argument("--db", help="sqlite:///PATH (default sqlite:///hazwatch.db) or postgresql://USER@HOST/DB")
    parser.add_argument("--http", metavar="HOST:PORT", help="HTTP listen address (default 127.0.0.1:8080)")
    parser.add_argument("--demo", action="store_true", help="also publish demo readings with an event every 3 min")
    parser.set_defaults(handler=run)


def _parse_http(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError([f"--http {value!r}: expected HOST:PORT, e.g. 127.0.0.1:8080"])
    return host, int(port)


def run(args: argparse.Namespace) -> int:
    """Load config, start the service, wait for Ctrl-C or SIGTERM, stop cleanly."""
    config = load_config(args.config)
    if args.site:
        config.site_file = args.site
    if args.broker:
        config.mqtt.broker = args.broker
    if args.db:
        config.database.url = args.db
    if args.http:
        config.http.host, config.http.port = _parse_http(args.http)
    if args.demo and not config.http.public_read:
        # A newcomer should see the demo at once; actions still need a token (`hazwatch user add`).
        config.http.public_read = True
        log.info("demo: read-only pages and API are open; create a user to act: hazwatch user add NAME --role operator")
    logging.getLogger().setLevel(config.log_level)
    site = load_site(config.site_file)
    service = Service(config, site, demo=args.demo)
    asyncio.run(_serve(service))
    # Stopped and committed: what is left of the exit only frees memory, and the interpreter's last garbage
    # collections would walk the whole heap (numpy, scipy, SQLAlchemy, the site's tables) to find nothing to do.
    # Frozen objects are left out of them (gc.freeze, Python docs "gc"); objects are still freed by reference count.
    gc.freeze()
    return 0


async def _serve(service: Service) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Before start: a SIGHUP while starting is queued until the service is ready (its default action is to exit).
    loop.add_signal_handler(signal.SIGHUP, service.request_reload)
    # A stop asked for while starting (a broker or database that does not answer yet) ends the start: a SIGTERM
    # must never wait on something that may not come.
    starting = asyncio.create_task(service.start(), name="start")
    stopping = asyncio.create_task(stop.wait(), name="wait-for-stop")
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if starting.done():
        if starting.exception() is not None:
            stopping.cancel()
            starting.result()  # a start that failed says why (and exits non-zero) as before
        log.info("hazwatch running for site %s (%d sensors); Ctrl-C to stop", service.site.site, len(service.table))
    else:
        log.warning("stop requested while starting: the start is abandoned")
        starting.cancel()
        await asyncio.wait({starting}, timeout=START_ABANDON_S)  # bounded: the stop below is what must happen
    try:
        await stopping
    finally:
        log.info("shutting down: flushing batches and closing the session")
        await _stop_within_deadline(service)


async def _stop_within_deadline(service: Service) -> None:
    """Stop cleanly, or, past the deadline, say which tasks hold the exit and leave (a supervisor restarts us).

    Every step of ``Service.stop`` is bounded on its own; this is the last line, so a SIGTERM always ends the
    process (systemd's stop timeout would otherwise SIGKILL it and lose the spool it was writing)."""
    deadline = service.config.database.stop_timeout_s + STOP_GRACE_S
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(deadline):
            await service.stop()
        return
    current = asyncio.current_task()
    for task in asyncio.all_tasks():
        if task is not current and not task.done():
            frames = task.get_stack(limit=3)
            where = ", ".join(f"{f.f_code.co_filename}:{f.f_lineno}" for f in frames) or "?"
            log.error("stop still waiting after %.0f s on task %s at %s", deadline, task.get_name(), where)
    logging.shutdown()
    os._exit(EXIT_STOP_TIMEOUT)  # the tasks above would hold asyncio.run's own clean-up as well
