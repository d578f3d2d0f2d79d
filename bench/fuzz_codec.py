"""Fuzz the SenML codec: never an exception, every rejection a counted reason.

Three draws in four are valid SenML for the demo site with a few structural (and sometimes byte-level) mutations,
so inputs get past the topic and JSON checks into names, units, times and flags; the fourth is any topic and any
payload.

    python bench/fuzz_codec.py [--count 100000] [--chunk 5000] [--budget-s SECONDS]

Prints a line per chunk (inputs, CPU time) and the outcomes: readings kept and rejections by reason. The strategies
are those of tests/faults/test_fuzz.py, which runs a few hundred inputs in CI.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz_run import arguments, fuzz_settings, run_chunks
from hypothesis import given

from tests.faults.fuzz_targets import codec_decoder, messages, run_codec_fuzz


def main() -> int:
    """Run the chunks and print the figures."""
    args = arguments(__doc__ or "")
    decoder = codec_decoder()
    outcomes: Counter[str] = Counter()
    count = [0]

    def make(examples: int) -> Callable[[], None]:
        @fuzz_settings(examples)
        @given(messages)
        def one(message: tuple[str, bytes]) -> None:
            topic, payload = message
            count[0] += 1
            readings, reasons = run_codec_fuzz(decoder, topic, payload)
            outcomes.update(reasons)
            outcomes["readings kept"] += readings
            if not readings and not reasons:
                outcomes["nothing (status or empty)"] += 1

        return one

    return run_chunks("codec", args, make, outcomes, count)


if __name__ == "__main__":
    sys.exit(main())
