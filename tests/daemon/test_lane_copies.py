"""The priority lane: each message of a priority topic comes once per session; the first copy is judged, the second
acknowledged and dropped, whichever session is ahead, and a message only one session delivers is judged once.

The pairing (``LaneCopies``) is tested as a pure function; the lane's place in the intake (judged ahead of the
look-ahead, after its device's messages the main session delivered first) through the production seam.
"""

from __future__ import annotations

import json

from daemon.chain.build import AlarmSetup, build_intake
from daemon.chain.seen_readings import SeenReadings
from daemon.ingest.mqtt import Ack
from daemon.ingest.priority_lane import Lane, LaneCopies, lane_handler, priority_topics
from tests.daemon.test_priority_lane import HAZARD, ROUTINE, _judged_in_order, _reading
from tests.seam import Chain

TOPIC = "hw/park/gamma-10"


def _pairing(copies: LaneCopies, deliveries: list[tuple[Lane, bytes]]) -> list[bool]:
    return [copies.first_copy(lane, TOPIC, payload) for lane, payload in deliveries]


def test_the_second_copy_is_dropped_whichever_session_is_ahead() -> None:
    copies = LaneCopies([TOPIC])
    a, b, c = b"a", b"b", b"c"
    # The lane ahead (the main session behind a backlog), then the main session ahead (the lane reconnecting).
    first = _pairing(copies, [(Lane.PRIORITY, a), (Lane.PRIORITY, b), (Lane.MAIN, a), (Lane.MAIN, b)])
    second = _pairing(copies, [(Lane.MAIN, c), (Lane.PRIORITY, c)])
    assert first == [True, True, False, False]
    assert second == [True, False]
    assert copies.unmatched() == 0


def test_a_message_only_one_session_delivers_is_judged_once_and_forgotten() -> None:
    """Published before the lane subscribed: only the main session has ``old``; the pairing goes on after it."""
    copies = LaneCopies([TOPIC])
    judged = _pairing(
        copies,
        [
            (Lane.MAIN, b"old"),
            (Lane.PRIORITY, b"new"),
            (Lane.MAIN, b"new"),
            (Lane.PRIORITY, b"next"),
            (Lane.MAIN, b"next"),
        ],
    )
    assert judged == [True, True, False, True, False]
    # Kept (the lane might still be behind it), until the lane matches a later copy of the main session's past it.
    assert copies.unmatched() == 1
    assert _pairing(copies, [(Lane.MAIN, b"later"), (Lane.PRIORITY, b"later")]) == [True, False]
    assert copies.unmatched() == 0


def test_the_same_bytes_twice_are_two_messages_paired_in_order() -> None:
    copies = LaneCopies([TOPIC])
    judged = _pairing(copies, [(Lane.PRIORITY, b"x"), (Lane.PRIORITY, b"x"), (Lane.MAIN, b"x"), (Lane.MAIN, b"x")])
    assert judged == [True, True, False, False]


def test_other_topics_and_the_memory_bound() -> None:
    copies = LaneCopies([TOPIC], per_topic=3)
    assert copies.first_copy(Lane.MAIN, "hw/park/gamma-01", b"a")
    assert copies.first_copy(Lane.MAIN, "hw/park/gamma-01", b"a")  # not a priority topic: never paired
    for payload in (b"1", b"2", b"3", b"4"):
        copies.first_copy(Lane.PRIORITY, TOPIC, payload)
    assert copies.unmatched() == 3


def test_the_lane_takes_the_named_devices_and_types(chain: Chain) -> None:
    table = chain.table
    site = table.site.site
    named = priority_topics(table, "hw/", [HAZARD])
    assert named == [f"hw/{site}/{HAZARD}", f"hw/{site}/{HAZARD}/status"]
    monitors = [d.id for d in table.devices if d.type.value == "source_monitor"]
    by_type = priority_topics(table, "hw", ["source_monitor"])
    assert by_type == [topic for d in monitors for topic in (f"hw/{site}/{d}", f"hw/{site}/{d}/status")]
    assert monitors


def test_the_second_copy_is_acknowledged_not_handled() -> None:
    copies = LaneCopies([TOPIC])
    handled: list[bytes] = []
    acknowledged: list[Ack] = []
    main = lane_handler(copies, Lane.MAIN, lambda _t, payload, _r, _a: handled.append(payload), acknowledged.extend)
    lane = lane_handler(copies, Lane.PRIORITY, lambda _t, payload, _r, _a: handled.append(payload), acknowledged.extend)

    def ack() -> None:
        pass

    lane(TOPIC, b"a", 0.0, ack)
    main(TOPIC, b"a", 0.0, ack)
    assert handled == [b"a"]
    assert acknowledged == [ack]


async def test_lane_messages_go_ahead_of_the_look_ahead_after_their_device_waiting_there(chain: Chain) -> None:
    """3,000 routine messages wait (behind: reading ahead); one hazard message came first on the main session (the
    lane was behind); the lane's next message is judged at once, after that one, ahead of the routine backlog."""
    rules = AlarmSetup.load(chain.config.alarms).rules
    intake = build_intake(chain.config, chain.pipeline, chain.writer, chain.metrics, chain.clock, rules=rules)
    intake.input_pending = lambda: True
    intake.behind_excess_s = 60.0
    t0 = chain.clock.now() - 60
    for number in range(3000):
        device = ROUTINE[number % len(ROUTINE)]
        intake.accept(chain.topic(device), _reading(device, t0 + number * 0.002, 90.0), chain.clock.now())
        if number == 1500:
            intake.accept(chain.topic(HAZARD), _reading(HAZARD, t0 + 3.001, 90.0), chain.clock.now())
    intake.accept_priority(chain.topic(HAZARD), _reading(HAZARD, t0 + 7.0, 5000.0), chain.clock.now())
    await chain.writer.flush()
    judged = await _judged_in_order(chain)
    assert judged == [(f"{HAZARD}-dose", t0 + 3.001), (f"{HAZARD}-dose", t0 + 7.0)]
    assert intake.waiting()[0] == 3000
    intake.input_pending = lambda: False
    intake.flush()
    await chain.writer.flush()
    assert len(await _judged_in_order(chain)) == 3002


def test_lane_readings_past_the_early_close_bound_wait_at_most_a_window(chain: Chain) -> None:
    rules = AlarmSetup.load(chain.config.alarms).rules
    intake = build_intake(chain.config, chain.pipeline, chain.writer, chain.metrics, chain.clock, rules=rules)
    payload = json.dumps([{"bn": f"{HAZARD}:", "bt": chain.clock.now(), "n": "dose_rate", "v": 1.0}]).encode()
    for _ in range(3):  # past the early-close burst: the third waits for the timer's tick
        intake.accept_priority(chain.topic(HAZARD), payload, chain.clock.now())
    assert intake.waiting()[0] == 1
    chain.clock.advance(chain.config.ingest.batch_max_delay_s / 10)
    intake.flush_if_due()
    assert intake.waiting()[0] == 1  # neither the bound nor a window since it arrived: it waits
    chain.clock.advance(chain.config.ingest.batch_max_delay_s)
    intake.flush_if_due()
    assert intake.waiting()[0] == 0


async def _copy_after_bulk(chain: Chain, lane_memory: bool) -> list[tuple[str, float]]:
    """A hazard reading, 300 routine ones (past the small general memory), then the hazard reading's second copy."""
    chain.pipeline.seen = SeenReadings(generation=100)
    if lane_memory:
        chain.pipeline.keep_apart([next(i for i, device in enumerate(chain.table.devices) if device.id == HAZARD)])
    intake = build_intake(chain.config, chain.pipeline, chain.writer, chain.metrics, chain.clock, live=False)
    t0 = chain.clock.now() - 60
    hazard = _reading(HAZARD, t0, 5000.0)
    intake.accept(chain.topic(HAZARD), hazard, chain.clock.now())
    intake.flush()
    for number in range(300):
        device = ROUTINE[number % len(ROUTINE)]
        intake.accept(chain.topic(device), _reading(device, t0 + 0.01 * (number + 1), 90.0), chain.clock.now())
        if number % 150 == 149:
            intake.flush()  # two batches past the generation of 100: both generations turn over
    intake.accept(chain.topic(HAZARD), hazard, chain.clock.now())
    intake.flush()
    await chain.writer.flush()
    return [entry for entry in await _judged_in_order(chain) if entry[0] == f"{HAZARD}-dose"]


async def test_the_lane_sensors_memory_outlasts_the_bulk(chain: Chain) -> None:
    """The main session's copy of a lane message a backlog later (the pairing lost at a restart) is not judged again:
    the lane's sensors are remembered apart from the bulk, which would have pushed them out."""
    assert len(await _copy_after_bulk(chain, lane_memory=True)) == 1


async def test_without_the_lane_memory_the_bulk_pushes_the_reading_out(chain: Chain) -> None:
    """The same stream without it: the general memory forgot the reading, and the copy is stored twice."""
    assert len(await _copy_after_bulk(chain, lane_memory=False)) == 2
