"""KPIs computed from stored transitions."""

from __future__ import annotations

from rules.alarm import AlarmState, AlarmTransition
from rules.kpi import alarm_kpis
from rules.model import Classification, Priority

S = AlarmState


def tr(
    alarm_id: str, t: float, to: AlarmState, frm: AlarmState = S.NORMAL, p: Priority = Priority.LOW
) -> AlarmTransition:
    return AlarmTransition(
        alarm_id, "r", 0, "s", "gas.level1", p, Classification.HAZARD, t, frm, to, to is S.ACTIVE_UNACK, "system",
        "x", 1.0, "", "",
    )  # fmt: skip


def test_rates_flood_periods_chatter_stale_and_priorities() -> None:
    start, end = 100_000.0, 100_000.0 + 3600.0  # six 10-min periods
    history = [
        tr("stale", start - 25 * 3600, S.ACTIVE_UNACK),  # raised a day ago and never cleared
        tr("stale", start - 24 * 3600, S.ACTIVE_ACKED, S.ACTIVE_UNACK),
    ]
    # a flood in the first period: 12 distinct alarms
    history += [
        tr(f"f{i}", start + 10 * i, S.ACTIVE_UNACK, p=Priority.HIGH if i < 3 else Priority.LOW) for i in range(12)
    ]
    # a chattering alarm in the third period: raised 3 times within 50 s
    for k, t in enumerate((1300.0, 1325.0, 1350.0)):
        history.append(tr("chat", start + t, S.ACTIVE_UNACK, S.NORMAL if k == 0 else S.RETURNED_UNACK))
        history.append(tr("chat", start + t + 5, S.RETURNED_UNACK, S.ACTIVE_UNACK))
    history.append(tr("late", end + 1, S.ACTIVE_UNACK))  # outside the window
    kpis = alarm_kpis(history, start, end)
    assert kpis.alarms == 15
    assert kpis.alarms_per_10min == 2.5
    assert kpis.peak_alarms_per_10min == 12
    assert kpis.periods_in_flood_pct == 100.0 / 6
    assert kpis.chattering_alarms == ("chat",)
    assert "stale" in kpis.stale_alarms
    assert "chat" not in kpis.stale_alarms
    assert kpis.priority_share_pct[Priority.HIGH] == 20.0
    assert kpis.priority_share_pct[Priority.LOW] == 80.0
