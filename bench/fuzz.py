"""Fuzz the HTTP API and the SenML codec with 100,000 generated inputs each; print what was found and how fast.

    python bench/fuzz.py [--examples 100000] [--only api|codec]

The same strategies as tests/faults/test_fuzz.py (which CI runs with a few hundred examples).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, given, settings

from tests.faults.fuzz_targets import (
    api_under_test,
    codec_decoder,
    payloads,
    requests,
    run_api_fuzz,
    run_codec_fuzz,
    topics,
)


def fuzz_settings(examples: int) -> settings:
    """Many examples, no deadline, no example database."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


def fuzz_api(examples: int) -> None:
    """Every route, every role, hostile ids, queries and bodies."""
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory() as directory:
        context = api_under_test(Path(directory), rate_limited=False)
        api = loop.run_until_complete(context.__aenter__())
        count = 0

        @fuzz_settings(examples)
        @given(requests())
        def one(request: tuple[str, str, dict[str, str], bytes | None]) -> None:
            nonlocal count
            count += 1
            run_api_fuzz(loop, api, request)

        started = time.perf_counter()
        try:
            one()
        finally:
            loop.run_until_complete(context.__aexit__(None, None, None))
            loop.close()
        elapsed = time.perf_counter() - started
        print(f"api:   {count} requests, no 5xx, every error a JSON 4xx ({count / elapsed:.0f}/s, {elapsed:.0f}s)")


def fuzz_codec(examples: int) -> None:
    """Any topic, any payload."""
    decoder = codec_decoder()
    count = 0

    @fuzz_settings(examples)
    @given(topics, payloads)
    def one(topic: str, payload: bytes) -> None:
        nonlocal count
        count += 1
        run_codec_fuzz(decoder, topic, payload)

    started = time.perf_counter()
    one()
    elapsed = time.perf_counter() - started
    print(f"codec: {count} payloads, no exception ({count / elapsed:.0f}/s, {elapsed:.0f}s)")


def main() -> None:
    """Run both fuzzers (or one)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--only", choices=("api", "codec"))
    args = parser.parse_args()
    if args.only in (None, "codec"):
        fuzz_codec(args.examples)
    if args.only in (None, "api"):
        fuzz_api(args.examples)


if __name__ == "__main__":
    main()
