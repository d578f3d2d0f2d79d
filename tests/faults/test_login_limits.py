"""Password logins: a token for the right password, and failures limited per user as well as per address.

A bearer token names no user, so a wrong one is limited per address only (test_secrets.py). A password login names
its user: an attacker spreading guesses over many addresses is stopped per user, and an unknown user name is limited
the same way (the answer does not tell which names exist). Before, there was no password login at all (POST
/api/login answered 405), so nothing could be limited per user.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.store.engine import create_engine, migrate
from daemon.web.api.auth import add_user
from daemon.web.api.errors import TooManyRequests, Unauthorized
from daemon.web.api.failed_auth import FailedAuthLimiter
from daemon.web.api.login import password_login, set_password
from tests.faults.fuzz_targets import api_under_test

pytestmark = pytest.mark.slow  # each check is a real scrypt (about 0.1 s of a core)

PASSWORD = "correct horse battery"


def _set_password_with_the_cli(db: Path, name: str, password: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "daemon.cli", "user", "password", name, "--db", f"sqlite:///{db}"],
        input=password + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert password not in done.stdout + done.stderr


async def test_login_gives_a_working_token_and_failures_lock_the_user_not_the_address(tmp_path: Path) -> None:
    """Over real HTTP from one address: the right password gives a token; ten wrong ones for one user, then even the
    right password for that user is refused (429), while another user from the same address still gets a 401."""
    async with api_under_test(tmp_path) as api:
        _set_password_with_the_cli(tmp_path / "fuzz.db", "operator-user", PASSWORD)

        async def login(user: str, password: str) -> tuple[int, dict[str, object]]:
            body = json.dumps({"user": user, "password": password}).encode()
            status, text = await api.status("POST", "/api/login", {"Content-Type": "application/json"}, body)
            return status, json.loads(text)

        status, granted = await login("operator-user", PASSWORD)
        me = await api.status("GET", "/api/me", {"Authorization": f"Bearer {granted.get('token')}"}, None)
        wrong = [(await login("operator-user", f"guess {n}"))[0] for n in range(10)]
        locked_status, locked = await login("operator-user", PASSWORD)
        other = await login("admin-user", "a wrong one")
    assert (status, granted["user"], granted["role"]) == (200, "operator-user", "operator")
    assert me[0] == 200
    assert json.loads(me[1])["name"] == "operator-user"
    assert wrong == [401] * 10
    assert locked_status == 429
    assert "this user" in str(locked["error"])
    assert other[0] == 401  # the address is not locked: 11 failures < 20 per minute


async def test_guesses_from_many_addresses_are_limited_per_user(tmp_path: Path) -> None:
    """Ten failures from ten addresses lock the user for an eleventh address; an unknown name locks the same way."""
    engine = create_engine(f"sqlite:///{tmp_path / 'h.db'}")
    await migrate(engine)
    try:
        await add_user(engine, "alice", "operator", 0.0)
        await set_password(engine, "alice", PASSWORD)
        per_address, per_user = FailedAuthLimiter(), FailedAuthLimiter(max_failures=10, window_s=900.0)
        for name in ("alice", "nobody"):
            for n in range(10):
                with pytest.raises(Unauthorized):
                    await password_login(engine, per_address, per_user, f"10.0.{n}.1", name, "guess", 100.0 + n)
            with pytest.raises(TooManyRequests):
                await password_login(engine, per_address, per_user, "10.9.9.9", name, PASSWORD, 120.0)
        token, user = await password_login(engine, per_address, per_user, "10.9.9.9", "alice", PASSWORD, 1100.0)
    finally:
        await engine.dispose()
    assert (user.name, token.startswith("hzw_")) == ("alice", True)  # the window passed: the right password works
