"""A commit carrying pages does not carry (and so does not wait for) the pickled state the alarm timer queued.

The state is hundreds of kB even on the demo site; a page queued right after the timer's checkpoint used to share its
transaction. The timer's checkpoint is dropped from such a commit and taken again at the next tick; one queued by a
reload or a stop is never dropped, and one commits at least every ``alarms.checkpoint_interval_s``.
"""

from __future__ import annotations

from typing import Any

from daemon.chain.build import AlarmSetup
from daemon.chain.checkpoint import StateCheckpoints
from daemon.config import AlarmConfig
from daemon.store.schema import notifications
from daemon.store.writer import WriteGroup
from tests.seam import Chain

INTERVAL_S = AlarmConfig().checkpoint_interval_s


def _checkpoints(chain: Chain) -> StateCheckpoints:
    """The live chain's checkpoint policy over the harness's pipeline and writer."""
    setup = AlarmSetup.load(AlarmConfig())
    configuration = setup.checkpoint_configuration(chain.table, chain.pipeline.detector.config)
    return StateCheckpoints(chain.pipeline, configuration, chain.writer, chain.clock, INTERVAL_S)


def _queued_group(chain: Chain, checkpoints: StateCheckpoints, *, by_timer: bool, page: bool) -> WriteGroup:
    """The group the writer is about to commit: the state just queued, and maybe a page queued after it."""
    checkpoints.save(1_800_000_000.0, by_timer=by_timer)
    group, chain.writer._pending = chain.writer._pending, WriteGroup()
    if page:
        row: dict[str, Any] = {"idempotency_key": "k", "channel": "webhook"}
        group.insert_once[notifications] = [row]
    return group


async def test_the_timers_checkpoint_leaves_a_commit_that_carries_a_page(chain: Chain) -> None:
    """Dropped when a checkpoint committed within the interval; the next tick takes the state again."""
    checkpoints = _checkpoints(chain)
    first = _queued_group(chain, checkpoints, by_timer=True, page=False)
    checkpoints.before_commit(first)
    assert first.checkpoints  # no page: the state commits
    paged = _queued_group(chain, checkpoints, by_timer=True, page=True)
    checkpoints.before_commit(paged)
    assert not paged.checkpoints
    assert paged.insert_once[notifications]
    assert checkpoints.dirty  # the alarm timer saves again at its next tick


async def test_a_checkpoint_of_a_stop_or_reload_or_after_a_long_gap_stays_with_the_page(chain: Chain) -> None:
    """Only the timer's checkpoint may be dropped, and never when none committed within the interval."""
    checkpoints = _checkpoints(chain)
    never = _queued_group(chain, checkpoints, by_timer=True, page=True)  # no checkpoint committed yet
    checkpoints.before_commit(never)
    assert never.checkpoints
    stop = _queued_group(chain, checkpoints, by_timer=False, page=True)  # a stop's or a reload's state
    checkpoints.before_commit(stop)
    assert stop.checkpoints
    checkpoints._last_state_checkpoint -= INTERVAL_S
    late = _queued_group(chain, checkpoints, by_timer=True, page=True)
    checkpoints.before_commit(late)
    assert late.checkpoints
