"""Fuzz every HTTP API route (every role, forged tokens, hostile ids, queries and bodies) over real HTTP on a real
SQLite file: never a 5xx, every error a JSON body naming its status.

    python bench/fuzz_api.py [--count 100000] [--chunk 5000] [--budget-s SECONDS]

Prints a line per chunk (requests, CPU time of this process, which runs client and server) and the answers by status.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz_run import arguments, fuzz_settings, run_chunks
from hypothesis import given

from tests.faults.fuzz_targets import api_under_test, requests, run_api_fuzz


def main() -> int:
    """Start the API once, run the chunks against it, print the figures."""
    args = arguments(__doc__ or "")
    loop = asyncio.new_event_loop()
    outcomes: Counter[str] = Counter()
    count = [0]
    with tempfile.TemporaryDirectory() as directory:
        context = api_under_test(Path(directory), rate_limited=False)
        api = loop.run_until_complete(context.__aenter__())

        def make(examples: int) -> Callable[[], None]:
            @fuzz_settings(examples)
            @given(requests())
            def one(request: tuple[Any, ...]) -> None:
                count[0] += 1
                outcomes[str(run_api_fuzz(loop, api, request))] += 1

            return one

        try:
            return run_chunks("api", args, make, outcomes, count)
        finally:
            loop.run_until_complete(context.__aexit__(None, None, None))
            loop.close()


if __name__ == "__main__":
    sys.exit(main())
