"""The incident engine on an injected clock: open, group, raise, page, escalate, remind, close."""

from __future__ import annotations

import pytest

from plans.errors import IncidentActionError
from plans.incident import Incident, IncidentStatus, NotificationKind
from plans.model import Grouping, Plan, Tier
from plans.roster import Roster
from rules.model import Rule
from rules.sensor_table import SensorTable
from tests.plans.plans_support import T0, Rig


def proposed_tier(incident: Incident) -> Tier | None:
    """Read the tier afresh (an engine call between two asserts changes it; mypy would keep the first narrowing)."""
    return incident.proposed_tier


def status(incident: Incident) -> IncidentStatus:
    """Read the status afresh, for the same reason."""
    return incident.status


K = NotificationKind


def test_aegl2_at_boundary_opens_orange_incident_with_one_page(rig: Rig) -> None:
    changes = rig.cond("gas.aegl2_10min", "gas-n01-cl2", T0)
    incident = rig.incidents.current()
    assert incident is not None
    assert proposed_tier(incident) is Tier.ORANGE
    assert incident.trigger_ids == ["gas-aegl2-boundary"]
    assert [n.kind for n in changes.notifications] == [K.OPEN]  # no extra single-alarm page
    page = changes.notifications[0]
    assert page.ack_deadline == T0 + 180
    assert {(r.person_id, r.role) for r in page.recipients} >= {
        ("li-na", "duty_officer"),
        ("liu-yang", "deputy_director"),
    }
    assert ("phone", "${HAZWATCH_PHONE_LI_NA}") in page.recipients[0].channels
    assert set(incident.reports) == {"initial-report", "province-report"}
    assert incident.reports["province-report"].due_at == T0 + 7200


def test_tier_raised_when_conditions_worsen(rig: Rig) -> None:
    rig.cond("gas.level2", "gas-n01-cl2", T0)
    incident = rig.incidents.current()
    assert incident is not None
    assert proposed_tier(incident) is Tier.BLUE
    assert set(incident.reports) == {"initial-report", "city-report"}
    changes = rig.cond("gas.aegl1_60min", "gas-n02-cl2", T0 + 60)
    changes2 = rig.cond("gas.aegl1_60min", "gas-n01-cl2", T0 + 120)
    # two boundary sensors in one zone over AEGL-1 within 10 min: yellow
    assert not changes.notifications
    assert [n.kind for n in changes2.notifications] == [K.TIER_CHANGE]
    assert proposed_tier(incident) is Tier.YELLOW
    changes3 = rig.cond("gas.aegl3_10min", "gas-n03-hcl", T0 + 180)
    assert [(n.kind, n.tier) for n in changes3.notifications] == [(K.TIER_CHANGE, Tier.RED)]
    assert proposed_tier(incident) is Tier.RED
    assert "province-report" in incident.reports
    assert incident.reports["initial-report"].due_at == T0 + 3600  # owed once, from the opening
    assert [e.kind for e in incident.timeline].count("tier_raised") == 2
    assert len(rig.incidents.incidents) == 1


def test_no_new_page_for_alarms_grouped_into_an_open_incident(
    table: SensorTable, default_rules: list[Rule], plan: Plan, roster: Roster
) -> None:
    """Under the plan rule `grouping: site` every alarm at the site joins the open incident, paged or not."""
    rig = Rig(table, default_rules, plan.model_copy(update={"grouping": Grouping.SITE}), roster, drill=False)
    rig.cond("gas.aegl2_10min", "gas-n01-cl2", T0)
    incident = rig.incidents.current()
    assert incident is not None
    # a high-priority alarm that would be paged on its own is only grouped
    changes = rig.cond("source.detector_fault", "src-gauge-01-dose", T0 + 30)
    assert changes.notifications == []
    assert [e.kind for e in changes.timeline] == ["alarm_grouped"]
    assert "source-detector-fault@src-gauge-01-dose" in incident.alarm_ids


def test_radiation_and_gas_are_separate_incidents_under_the_shipped_plan(rig: Rig) -> None:
    """The shipped plan says `grouping: hazard`: a tampered Cs-137 gauge never disappears into a Cl2 incident."""
    assert rig.incidents.plan.grouping is Grouping.HAZARD
    rig.cond("gas.level2", "gas-n01-cl2", T0)
    gas = rig.incidents.current("toxic_gas")
    assert gas is not None
    changes = rig.cond("source.tamper", "src-gauge-01-dose", T0 + 30)  # category IV gauge: its own blue incident
    radiation = rig.incidents.current("radiation")
    assert radiation is not None
    assert radiation is not gas
    assert radiation.alarm_ids == ["source-tamper@src-gauge-01-dose"]
    assert all(a.endswith("gas-n01-cl2") for a in gas.alarm_ids)
    assert [n.kind for n in changes.notifications] == [K.OPEN]
    assert [n.incident_id for n in changes.notifications] == [radiation.incident_id]
    # a second gas alarm joins the gas incident, without a page
    more = rig.cond("gas.level2", "gas-n02-cl2", T0 + 60)
    assert more.notifications == []
    assert any(a.endswith("gas-n02-cl2") for a in gas.alarm_ids)


def test_single_alarm_outside_incidents_is_paged_by_priority(rig: Rig) -> None:
    changes = rig.cond("source.detector_fault", "src-gauge-01-dose", T0)
    assert [(n.kind, n.incident_id, n.roles) for n in changes.notifications] == [(K.ALARM, None, ("duty_officer",))]
    assert rig.cond("quality.stuck", "gas-n01-cl2", T0 + 1).notifications == []  # low priority: list only
    assert rig.incidents.current() is None


def test_escalation_after_deadline_and_ack_stops_it(rig: Rig) -> None:
    opened = rig.cond("gas.level2", "gas-n01-cl2", T0)  # blue: ack within 600 s, then shift leader, deputy director
    first = opened.notifications[0]
    assert rig.tick(T0 + 599).notifications == []
    step1 = rig.tick(T0 + 600).notifications
    assert [(n.kind, n.roles, n.escalation_step, n.time) for n in step1] == [
        (K.ESCALATION, ("shift_leader",), 1, T0 + 600)
    ]
    assert [r.person_id for r in step1[0].recipients] == ["wang-qiang"]  # Wednesday's shift leader
    # a late tick escalates to every step it missed, stamped at each deadline
    late = rig.tick(T0 + 5000)
    escalations = [n for n in late.notifications if n.kind is K.ESCALATION]
    assert [(n.roles, n.time) for n in escalations] == [(("deputy_director",), T0 + 1200)]
    assert [n.kind for n in late.notifications if n.kind is not K.ESCALATION] == [K.REMINDER]  # initial report
    assert "escalation_exhausted" in [e.kind for e in late.timeline]
    # acknowledging stops a fresh chain
    rig2_incident = rig.incidents.current()
    assert rig2_incident is not None
    rig.cond("gas.aegl2_10min", "gas-n01-cl2", T0 + 6000)  # orange page with a new chain
    orange = [n for n in rig2_incident.timeline if n.kind == "notification"][-1].ref
    ack = rig.incidents.acknowledge_notification(orange, "li-na", T0 + 6010)
    assert [(e.kind, e.actor) for e in ack.timeline] == [("notification_ack", "li-na")]
    assert [n for n in rig.tick(T0 + 9000).notifications if n.kind is K.ESCALATION] == []  # stopped by the ack
    with pytest.raises(IncidentActionError):
        rig.incidents.acknowledge_notification(orange, "zhang-wei", T0 + 9001)
    assert first.notification_id != orange


def test_flood_groups_alarms_into_one_incident_with_one_page(rig: Rig, table: SensorTable) -> None:
    plant_gas = [s.id for s in table.sensors if s.kind == "gas"][:14]
    pages = []
    for i, sensor in enumerate(plant_gas):
        pages += rig.cond("gas.level1", sensor, T0 + 5 * i).notifications  # medium: not paged on their own
    assert [n.kind for n in pages] == [K.FLOOD]
    incident = rig.incidents.current()
    assert incident is not None
    assert proposed_tier(incident) is None
    assert len(incident.alarm_ids) == 14
    # a real trigger later gives the flood incident a tier instead of opening a second incident
    changes = rig.cond("gas.aegl2_10min", "gas-n01-cl2", T0 + 100)
    assert [n.kind for n in changes.notifications] == [K.TIER_CHANGE]
    assert proposed_tier(incident) is Tier.ORANGE
    assert len(rig.incidents.incidents) == 1


def test_closes_only_after_every_alarm_returned_and_latches_reset(rig: Rig) -> None:
    rig.cond("gas.aegl2_10min", "gas-n01-cl2", T0)
    incident = rig.incidents.current()
    assert incident is not None
    with pytest.raises(IncidentActionError, match="still on"):
        rig.incidents.close(incident.incident_id, "wang-qiang", T0 + 10)
    rig.cond("gas.aegl2_10min", "gas-n01-cl2", T0 + 600, active=False)  # latched: still not normal
    with pytest.raises(IncidentActionError):
        rig.incidents.close(incident.incident_id, "wang-qiang", T0 + 610)
    assert status(incident) is IncidentStatus.OPEN
    transitions = rig.book.reset("cl2-aegl2-10min@gas-n01-cl2", "li-na", T0 + 700)
    changes = rig.incidents.on_transitions(transitions, T0 + 700)
    assert "all_clear" in [e.kind for e in changes.timeline]
    assert status(incident) is IncidentStatus.ALL_CLEAR
    closed = rig.incidents.close(incident.incident_id, "wang-qiang", T0 + 800, "plume dispersed")
    assert [n.kind for n in closed.notifications] == [K.RESOLVE]
    assert status(incident) is IncidentStatus.CLOSED
    assert rig.incidents.current() is None
    # escalation of a closed incident's page never fires
    assert rig.tick(T0 + 10_000).notifications == []


def test_overdue_report_reminders(rig: Rig) -> None:
    rig.cond("gas.level2", "gas-n01-cl2", T0)
    incident = rig.incidents.current()
    assert incident is not None
    for n in [e.ref for e in incident.timeline if e.kind == "notification"]:
        rig.incidents.acknowledge_notification(n, "li-na", T0 + 1)
    assert rig.tick(T0 + 3599).notifications == []
    due = rig.tick(T0 + 3600).notifications
    assert [(n.kind, n.roles) for n in due] == [(K.REMINDER, ("duty_officer",))]
    assert rig.tick(T0 + 3600 + 899).notifications == []  # reminder interval 15 min
    assert len(rig.tick(T0 + 3600 + 900).notifications) == 1
    sent = rig.incidents.report_sent(incident.incident_id, "initial-report", "li-na", T0 + 4600)
    assert "(late)" in sent.timeline[0].text
    assert rig.tick(T0 + 6000).notifications == []
    city = rig.tick(T0 + 14_400).notifications
    assert [n.roles for n in city] == [("shift_leader",)]


def test_person_confirms_level_ticks_checklist_and_comments(rig: Rig) -> None:
    rig.cond("source.missing", "src-cam-01-dose", T0)  # category II camera: orange by the source grading
    incident = rig.incidents.current()
    assert incident is not None
    assert proposed_tier(incident) is Tier.ORANGE
    rig.incidents.confirm_level(incident.incident_id, Tier.YELLOW, "liu-yang", T0 + 300, "source found in its van")
    rig.incidents.complete_action(incident.incident_id, "source-search", "chen-jing", T0 + 400)
    rig.incidents.comment(incident.incident_id, "li-na", "police informed", T0 + 500)
    assert incident.confirmed_tier is Tier.YELLOW
    assert proposed_tier(incident) is Tier.ORANGE  # the proposal stays what the measurements say
    assert incident.actions["source-search"].done_by == "chen-jing"
    kinds = [(e.kind, e.actor) for e in incident.timeline]
    assert ("level_confirmed", "liu-yang") in kinds
    assert ("checklist", "chen-jing") in kinds
    assert ("comment", "li-na") in kinds


def test_suspicious_gamma_rise_at_two_stations_is_yellow(rig: Rig) -> None:
    rig.cond("gamma.rise_suspicious", "gamma-01-dose", T0)
    incident = rig.incidents.current()
    assert incident is not None
    assert proposed_tier(incident) is Tier.BLUE
    rig.cond("gamma.rise_suspicious", "gamma-02-dose", T0 + 600)
    assert proposed_tier(incident) is Tier.YELLOW


def test_drill_flag_on_every_incident_page_and_timeline_entry(drill_rig: Rig) -> None:
    changes = drill_rig.cond("gas.aegl2_10min", "gas-n01-cl2", T0)
    changes2 = drill_rig.tick(T0 + 10_000)
    incident = drill_rig.incidents.current()
    assert incident is not None
    assert incident.drill
    assert incident.incident_id.startswith("drill-")
    notes = changes.notifications + changes2.notifications
    assert notes
    assert all(n.drill and n.subject.startswith("[演练 DRILL]") for n in notes)
    assert all(e.drill for e in incident.timeline)


def test_the_same_alarm_after_its_incident_was_closed_opens_a_new_incident_and_pages(rig: Rig) -> None:
    """A second release a minute after the first incident was closed is a new event: a new incident, a new page
    (a benchmark loop once saw no second page and suspected the engine; it is not the engine)."""
    rig.cond("gas.aegl2_10min", "gas-n01-cl2", T0)
    first = rig.incidents.current()
    assert first is not None
    rig.cond("gas.aegl2_10min", "gas-n01-cl2", T0 + 20, active=False)
    rig.incidents.on_transitions(rig.book.reset("cl2-aegl2-10min@gas-n01-cl2", "li-na", T0 + 30), T0 + 30)
    rig.incidents.close(first.incident_id, "wang-qiang", T0 + 40, "done")
    changes = rig.cond("gas.aegl2_10min", "gas-n01-cl2", T0 + 60)
    second = rig.incidents.current()
    assert second is not None
    assert second.incident_id != first.incident_id
    assert [n.kind for n in changes.notifications] == [K.OPEN]
    assert status(first) is IncidentStatus.CLOSED
