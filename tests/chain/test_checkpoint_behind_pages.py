"""A commit carrying pages does not carry (and so does not wait for) the pickled state the alarm timer queued.

The state is hundreds of kB even on the demo site; a page queued right after the timer's checkpoint used to share its
transaction. The timer's checkpoint is dropped from such a commit and taken again at the next tick; one queued by a
reload or a stop is never dropped, and one commits at least every ``alarms.checkpoint_interval_s``.
"""

from __future__ import annotations

from typing import Any

from daemon.chain.build import AlarmSetup
from daemon.config import ServiceConfig
from daemon.service import Service
from daemon.store.schema import notifications
from daemon.store.writer import WriteGroup
from rules.site import Site
from tests.seam import Chain


def _service(chain: Chain, site: Site, sqlite_url: str) -> Service:
    """A service (not started) judging with the harness's pipeline and writer."""
    config = ServiceConfig()
    config.database.url = sqlite_url
    service = Service(config, site)
    service.pipeline = chain.pipeline
    service.writer = chain.writer
    setup = AlarmSetup.load(config.alarms)
    service._checkpoint_config = setup.checkpoint_configuration(chain.table, chain.pipeline.detector.config)
    return service


def _queued_group(service: Service, *, by_timer: bool, page: bool) -> WriteGroup:
    """The group the writer is about to commit: the state just queued, and maybe a page queued after it."""
    service._save_state(1_800_000_000.0, by_timer=by_timer)
    group, service.writer._pending = service.writer._pending, WriteGroup()
    if page:
        row: dict[str, Any] = {"idempotency_key": "k", "channel": "webhook"}
        group.insert_once[notifications] = [row]
    return group


async def test_the_timers_checkpoint_leaves_a_commit_that_carries_a_page(
    chain: Chain, demo_site: Site, sqlite_url: str
) -> None:
    """Dropped when a checkpoint committed within the interval; the next tick takes the state again."""
    service = _service(chain, demo_site, sqlite_url)
    first = _queued_group(service, by_timer=True, page=False)
    service._checkpoint_alarm_changes(first)
    assert first.checkpoints  # no page: the state commits
    paged = _queued_group(service, by_timer=True, page=True)
    service._checkpoint_alarm_changes(paged)
    assert not paged.checkpoints
    assert paged.insert_once[notifications]
    assert service._state_dirty  # the alarm timer saves again at its next tick


async def test_a_checkpoint_of_a_stop_or_reload_or_after_a_long_gap_stays_with_the_page(
    chain: Chain, demo_site: Site, sqlite_url: str
) -> None:
    """Only the timer's checkpoint may be dropped, and never when none committed within the interval."""
    service = _service(chain, demo_site, sqlite_url)
    never = _queued_group(service, by_timer=True, page=True)  # no checkpoint committed yet
    service._checkpoint_alarm_changes(never)
    assert never.checkpoints
    stop = _queued_group(service, by_timer=False, page=True)  # a stop's or a reload's state
    service._checkpoint_alarm_changes(stop)
    assert stop.checkpoints
    service._last_state_checkpoint -= service.config.alarms.checkpoint_interval_s
    late = _queued_group(service, by_timer=True, page=True)
    service._checkpoint_alarm_changes(late)
    assert late.checkpoints
