"""A throw-away PostgreSQL cluster for the fault tests (initdb/pg_ctl in a temp dir, as the postgres user since
initdb refuses root): stopping the machine's shared PostgreSQL would break everyone else's work."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    assert found, f"no {name} under /usr/lib/postgresql/*/bin"
    return found[-1]


@dataclass
class OwnPostgres:
    """A throw-away PostgreSQL cluster on a free port."""

    directory: Path
    port: int

    @property
    def url(self) -> str:
        """The service's database URL."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *command: str) -> None:
        prefix = [] if os.getuid() != 0 else ["runuser", "-u", "postgres", "--"]
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        """Start (again) and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            _pg_bin("pg_ctl"), "-D", str(self.directory / "data"), "-o", options,
            "-l", str(self.directory / "postgres.log"), "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        """Stop at once (like a crash or a pulled cable: connections are cut)."""
        self._as_postgres(_pg_bin("pg_ctl"), "-D", str(self.directory / "data"), "-m", "immediate", "-w", "stop")


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    """initdb in a temp dir owned by the postgres user; removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="hazwatch-pg-"))
    if os.getuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(directory, account.pw_uid, account.pw_gid)
    cluster = OwnPostgres(directory, free_port())
    # --no-sync: a throw-away cluster (it runs with fsync=off too) need not wait for its files to reach the disk;
    # on the shared test machine that wait was 2-5 s of the test's set-up (initdb 3.2-5.5 s with it, 5.4-11 s without).
    cluster._as_postgres(
        _pg_bin("initdb"), "-D", str(directory / "data"), "-U", "postgres", "--auth=trust", "--no-sync"
    )
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)
