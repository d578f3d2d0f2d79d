"""Failed token checks are rate-limited per client address, so a token cannot be guessed at network speed; failed
password logins per address and per user (``login.py``).

Tokens are 256-bit random values looked up by their SHA-256 (no timing oracle, nothing to guess in practice); the
limit keeps a scanner from filling the logs and the database's load, and makes a leaked-prefix search pointless.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from daemon.web.api.errors import TooManyRequests


@dataclass
class FailedAuthLimiter:
    """At most ``max_failures`` failed authentications per key (an address, a user name) in any ``window_s``."""

    max_failures: int = 20
    window_s: float = 60.0
    max_addresses: int = 10_000  # memory bound: the oldest keys are forgotten first
    subject: str = "this address"  # what a key is, for the 429 message
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def check(self, address: str, now: float) -> None:
        """Raise TooManyRequests while ``address`` is over its limit."""
        times = self._failures.get(address)
        if times is None:
            return
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[address]
        elif len(times) >= self.max_failures:
            retry = times[0] + self.window_s - now
            raise TooManyRequests(f"too many failed authentications for {self.subject}; retry in {retry:.0f} s")

    def failed(self, address: str, now: float) -> None:
        """Count one failed authentication."""
        if address not in self._failures and len(self._failures) >= self.max_addresses:
            del self._failures[next(iter(self._failures))]
        self._failures.setdefault(address, deque()).append(now)
