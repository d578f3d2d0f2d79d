"""The incident engine: opens incidents from alarms, proposes and raises tiers, pages, escalates, reminds, closes."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from plans.errors import IncidentActionError, UnknownIncidentError
from plans.incident import (
    ActionItem,
    Incident,
    IncidentChanges,
    IncidentStatus,
    NotificationIntent,
    NotificationKind,
    Recipient,
    ReportItem,
    TimelineEntry,
)
from plans.model import Grouping, Plan, Tier, TierSpec
from plans.roster import Roster
from plans.triggers import AlarmView, TriggerHit, highest_hit
from rules.alarm import AlarmTransition
from rules.sensor_table import SensorTable
from rules.site import DeviceType

SYSTEM = "system"
# Hazards under `grouping: hazard`: a chemical release and a radiation event are different incidents; weather
# stations have no hazard of their own and form their own group (their alarms are data-quality alarms).
_HAZARD_OF_DEVICE = {
    DeviceType.GAS_DETECTOR: "toxic_gas",
    DeviceType.GAMMA_STATION: "radiation",
    DeviceType.SOURCE_MONITOR: "radiation",
}


@dataclass
class _PageChain:
    """A page and its escalation: the next role is paged each time the ack deadline passes unanswered."""

    incident_id: str
    tier: Tier
    roles: tuple[str, ...]  # escalation roles after the first page
    deadline_s: float
    deadline: float
    step: int = 0
    notification_ids: list[str] = field(default_factory=list)
    acked_by: str = ""
    done: bool = False


class IncidentEngine:
    """In-memory incidents of one site; every method returns the changes for the daemon to store and deliver."""

    def __init__(self, plan: Plan, roster: Roster, table: SensorTable, *, drill: bool = False) -> None:
        self.plan = plan
        self.roster = roster
        self.table = table
        self.drill = drill
        self.site = table.site.site
        self.views: dict[str, AlarmView] = {}
        self.incidents: dict[str, Incident] = {}
        self._chains: list[_PageChain] = []
        self._seq = 0

    def use_plan(self, plan: Plan, roster: Roster) -> None:
        """A configuration reload: open incidents, their pages and escalations go on under the new plan and roster."""
        self.plan = plan
        self.roster = roster

    # ---- queries

    def current(self, group: str | None = None) -> Incident | None:
        """The incident of ``group`` (any group with None) that is not closed, if any."""
        return next(
            (
                i
                for i in self.incidents.values()
                if i.status is not IncidentStatus.CLOSED and (group is None or i.group == group)
            ),
            None,
        )

    def group_of(self, sensor: int) -> str:
        """The incident group of a sensor's alarms under the plan's grouping rule."""
        if self.plan.grouping is Grouping.SITE:
            return "site"
        device = self.table.devices[int(self.table.device_of[sensor])]
        return _HAZARD_OF_DEVICE.get(device.type, device.type.value)

    def pending_page(self, incident_id: str) -> tuple[float, str | None] | None:
        """When the incident's open page escalates next, and to which role (None: the chain then ends).

        None when no page of the incident is waiting for an acknowledgement.
        """
        for chain in self._chains:
            if chain.incident_id == incident_id and not chain.done and not chain.acked_by:
                role = chain.roles[chain.step] if chain.step < len(chain.roles) else None
                return chain.deadline, role
        return None

    def trigger_description(self, trigger_id: str) -> str:
        """The plan's words for a trigger (the id itself if the plan no longer has it)."""
        for spec in self.plan.tiers:
            for trigger in spec.triggers:
                if trigger.id == trigger_id:
                    return trigger.description
        return trigger_id

    def incident(self, incident_id: str) -> Incident:
        """An incident by id."""
        try:
            return self.incidents[incident_id]
        except KeyError:
            raise UnknownIncidentError(incident_id) from None

    # ---- alarms in

    def on_transitions(self, transitions: Iterable[AlarmTransition], now: float) -> IncidentChanges:
        """Follow the alarm book's transitions: group, open, raise tiers, page single alarms, note all-clear."""
        changes = IncidentChanges()
        newly_on: list[AlarmTransition] = []
        for tr in sorted(transitions, key=lambda t: t.time):
            view = self.views.get(tr.alarm_id)
            was_on = view is not None and view.on
            if view is None:
                view = AlarmView(
                    tr.alarm_id,
                    tr.rule_id,
                    tr.sensor,
                    tr.condition,
                    tr.priority,
                    tr.classification,
                    tr.to_state,
                    tr.process_active,
                    tr.time,
                )
                self.views[tr.alarm_id] = view
            view.state, view.process_active = tr.to_state, tr.process_active
            if view.on and not was_on:
                view.raised_at = tr.time
                newly_on.append(tr)
            incident = self.current(self.group_of(tr.sensor))
            if incident is not None and tr.alarm_id in incident.alarm_ids:
                self._log(
                    incident, changes, time=tr.time, kind="alarm", actor=tr.actor, text=_alarm_text(tr), ref=tr.alarm_id
                )
            elif incident is not None and view.on:
                self._group(incident, changes, tr)
        self._evaluate(now, newly_on, changes)
        return changes

    def _group(self, incident: Incident, changes: IncidentChanges, tr: AlarmTransition) -> None:
        """Add an alarm to the open incident: a timeline line, never a new page."""
        incident.alarm_ids.append(tr.alarm_id)
        self._log(
            incident, changes, time=tr.time, kind="alarm_grouped", actor=SYSTEM, text=_alarm_text(tr), ref=tr.alarm_id
        )

    def _evaluate(self, now: float, newly_on: list[AlarmTransition], changes: IncidentChanges) -> None:
        groups = sorted({self.group_of(v.sensor) for v in self.views.values()})
        for group in groups:
            views = [v for v in self.views.values() if self.group_of(v.sensor) == group]
            mine = [tr for tr in newly_on if self.group_of(tr.sensor) == group]
            self._evaluate_group(now, group, views, mine, changes)

    def _evaluate_group(
        self, now: float, group: str, views: list[AlarmView], newly_on: list[AlarmTransition], changes: IncidentChanges
    ) -> None:
        hit = highest_hit(self.plan, views, self.table)
        incident = self.current(group)
        if hit is not None and incident is None:
            incident = self._open(now, hit.tier, NotificationKind.OPEN, changes, hit, group)
        elif hit is not None and incident is not None and _above(hit.tier, incident.proposed_tier):
            self._raise(incident, now, hit, changes)
        flooding = [tr for tr in newly_on if tr.flood and (incident is None or tr.alarm_id not in incident.alarm_ids)]
        if flooding and incident is None:
            incident = self._open(now, None, NotificationKind.FLOOD, changes, None, group)
        if incident is not None:
            for tr in newly_on:
                if tr.alarm_id not in incident.alarm_ids and self.views[tr.alarm_id].on:
                    self._group(incident, changes, tr)
        else:
            for tr in newly_on:
                if tr.priority.rank >= self.plan.alarm_paging.min_priority.rank:
                    self._page_alarm(tr, changes)
        if incident is not None:
            self._follow_all_clear(incident, now, changes)

    def _open(
        self,
        now: float,
        tier: Tier | None,
        kind: NotificationKind,
        changes: IncidentChanges,
        hit: TriggerHit | None,
        group: str,
    ) -> Incident:
        self._seq += 1
        prefix = "drill-" if self.drill else ""
        # gather every alarm of the group that is on: the same event until a person says otherwise
        on = [
            v
            for v in sorted(self.views.values(), key=lambda v: v.raised_at)
            if v.on and self.group_of(v.sensor) == group
        ]
        # Named by its first alarm's time (a reading's time), not the clock: both instances of a high-availability
        # pair name the same incident alike, so its pages keep their idempotency keys across a takeover.
        named_at = on[0].raised_at if on else now
        incident = Incident(f"{prefix}{self.site}-{int(named_at)}-{self._seq}", self.site, now, self.drill, tier)
        incident.group = group
        self.incidents[incident.incident_id] = incident
        incident.alarm_ids.extend(v.alarm_id for v in on)
        if hit is not None:
            incident.trigger_ids.append(hit.trigger_id)
        why = f"trigger {hit.trigger_id}" if hit else "alarm flood (more than 10 alarms in 10 min)"
        tier_text = f"proposed tier {tier.value} ({tier.response_level})" if tier else "no tier yet"
        self._log(
            incident,
            changes,
            time=now,
            kind="opened",
            actor=SYSTEM,
            text=f"incident opened: {why}; {tier_text}",
            data=_tier_change(None, tier, "proposed", SYSTEM, hit.trigger_id if hit else "alarm flood"),
        )
        for alarm_id in incident.alarm_ids:
            self._log(
                incident,
                changes,
                time=now,
                kind="alarm_grouped",
                actor=SYSTEM,
                text=f"{alarm_id} gathered at opening",
                ref=alarm_id,
            )
        if tier is None:
            roles = tuple(self.plan.alarm_paging.roles)
            self._notify(
                incident,
                changes,
                now=now,
                kind=kind,
                tier=None,
                roles=roles,
                subject=f"alarm flood at {self.site}",
                deadline=None,
                step=0,
            )
        else:
            self._enter_tier(incident, tier, now, kind, changes)
        return incident

    def _raise(self, incident: Incident, now: float, hit: TriggerHit, changes: IncidentChanges) -> None:
        old = incident.proposed_tier
        incident.proposed_tier = hit.tier
        incident.trigger_ids.append(hit.trigger_id)
        old_text = old.value if old else "none"
        self._log(
            incident,
            changes,
            time=now,
            kind="tier_raised",
            actor=SYSTEM,
            text=f"proposed tier {old_text} -> {hit.tier.value} ({hit.tier.response_level}): trigger {hit.trigger_id}",
            data=_tier_change(old, hit.tier, "proposed", SYSTEM, f"trigger {hit.trigger_id}"),
        )
        self._enter_tier(incident, hit.tier, now, NotificationKind.TIER_CHANGE, changes)

    def _enter_tier(
        self, incident: Incident, tier: Tier, now: float, kind: NotificationKind, changes: IncidentChanges
    ) -> None:
        """Page the tier's roles, start its escalation chain, add its checklist and reports."""
        spec = self.plan.tier(tier)
        for chain in self._chains:
            if chain.incident_id == incident.incident_id and not chain.done:
                chain.done = True  # the new tier's page supersedes the lower tier's escalation
        deadline_s = self._deadline_s(spec, tuple(spec.notify), now)
        chain = _PageChain(incident.incident_id, tier, tuple(spec.escalation), spec.ack_deadline_s, now + deadline_s)
        self._chains.append(chain)
        subject = f"{spec.name}: {self.site}"
        note = self._notify(
            incident,
            changes,
            now=now,
            kind=kind,
            tier=tier,
            roles=tuple(spec.notify),
            subject=subject,
            deadline=chain.deadline,
            step=0,
        )
        chain.notification_ids.append(note.notification_id)
        for action in spec.actions:
            if action.id not in incident.actions:
                incident.actions[action.id] = ActionItem(action.id, action.text, action.role, tier)
        for report in spec.reports:
            if report.id not in incident.reports:
                incident.reports[report.id] = ReportItem(
                    report.id, report.name, report.to, report.role, now + report.due_s
                )
                self._log(
                    incident,
                    changes,
                    time=now,
                    kind="report_due",
                    actor=SYSTEM,
                    text=f"{report.name} to {report.to} due within {report.due_s / 3600:g} h",
                    ref=report.id,
                )

    def _page_alarm(self, tr: AlarmTransition, changes: IncidentChanges) -> None:
        roles = tuple(self.plan.alarm_paging.roles)
        changes.notifications.append(
            NotificationIntent(
                notification_id=f"alarm/{tr.alarm_id}/{tr.time:.3f}",
                kind=NotificationKind.ALARM,
                time=tr.time,
                incident_id=None,
                tier=None,
                roles=roles,
                recipients=self._recipients(roles, tr.time),
                subject=self._subject(f"{tr.priority.value} alarm {tr.sensor_id}"),
                body=f"{tr.message_zh}\n{tr.message_en}",
                ack_deadline=None,  # the alarm itself is acknowledged; the alarm book re-alarms if left standing
                alarm_ids=(tr.alarm_id,),
                drill=self.drill,
            )
        )

    def _follow_all_clear(self, incident: Incident, now: float, changes: IncidentChanges) -> None:
        returned = all(self.views[a].returned for a in incident.alarm_ids if a in self.views)
        if incident.status is IncidentStatus.OPEN and returned:
            incident.status = IncidentStatus.ALL_CLEAR
            self._log(
                incident,
                changes,
                time=now,
                kind="all_clear",
                actor=SYSTEM,
                text="every alarm returned to normal; a person may close",
            )
        elif incident.status is IncidentStatus.ALL_CLEAR and not returned:
            incident.status = IncidentStatus.OPEN
            self._log(
                incident, changes, time=now, kind="reopened", actor=SYSTEM, text="an alarm of the incident is on again"
            )

    # ---- time

    def tick(self, now: float) -> IncidentChanges:
        """Escalate unacknowledged pages past their deadline and remind overdue reports."""
        changes = IncidentChanges()
        for chain in list(self._chains):
            while not chain.done and not chain.acked_by and chain.deadline <= now:
                self._escalate(chain, changes)
        for incident in self.incidents.values():
            if incident.status is IncidentStatus.CLOSED:
                continue
            for report in incident.reports.values():
                if report.sent_at is not None or report.due_at > now:
                    continue
                last = report.last_reminder_at
                if last is not None and now - last < self.plan.reminder_interval_s:
                    continue
                report.last_reminder_at = now
                overdue_min = (now - report.due_at) / 60
                self._log(
                    incident,
                    changes,
                    time=now,
                    kind="report_overdue",
                    actor=SYSTEM,
                    text=f"{report.name} overdue by {overdue_min:.0f} min",
                    ref=report.report_id,
                )
                self._notify(
                    incident,
                    changes,
                    now=now,
                    kind=NotificationKind.REMINDER,
                    tier=incident.proposed_tier,
                    roles=(report.role,),
                    subject=f"overdue: {report.name} to {report.to}",
                    deadline=None,
                    step=0,
                )
        return changes

    def next_due(self) -> float:
        """The earliest time ``tick`` can do anything (a page escalates, an overdue report is reminded); inf: never.

        Before it, ``tick`` changes nothing (a replay skips those calls).
        """
        due = math.inf
        for chain in self._chains:
            if not chain.done and not chain.acked_by:
                due = min(due, chain.deadline)
        for incident in self.incidents.values():
            if incident.status is IncidentStatus.CLOSED:
                continue
            for report in incident.reports.values():
                if report.sent_at is None:
                    last = report.last_reminder_at
                    at = report.due_at if last is None else max(report.due_at, last + self.plan.reminder_interval_s)
                    due = min(due, at)
        return due

    def _escalate(self, chain: _PageChain, changes: IncidentChanges) -> None:
        incident = self.incidents[chain.incident_id]
        at = chain.deadline
        if chain.step >= len(chain.roles):
            chain.done = True
            self._log(
                incident,
                changes,
                time=at,
                kind="escalation_exhausted",
                actor=SYSTEM,
                text="nobody acknowledged; escalation chain ended",
                data={"escalation": {"step": chain.step, "role": None, "tier": chain.tier.value, "why": "exhausted"}},
            )
            return
        role = chain.roles[chain.step]
        chain.step += 1
        chain.deadline = at + self._deadline_s(self.plan.tier(chain.tier), (role,), at)
        self._log(
            incident,
            changes,
            time=at,
            kind="escalated",
            actor=SYSTEM,
            text=f"page not acknowledged within {chain.deadline_s:g} s: escalated to {role}",
            data={
                "escalation": {
                    "step": chain.step,
                    "role": role,
                    "tier": chain.tier.value,
                    "why": f"page not acknowledged within {chain.deadline_s:g} s",
                    "unacknowledged": list(chain.notification_ids),
                }
            },
        )
        note = self._notify(
            incident,
            changes,
            now=at,
            kind=NotificationKind.ESCALATION,
            tier=chain.tier,
            roles=(role,),
            subject=f"ESCALATED {self.plan.tier(chain.tier).name}: {self.site}",
            deadline=chain.deadline,
            step=chain.step,
        )
        chain.notification_ids.append(note.notification_id)

    # ---- people

    def acknowledge_notification(self, notification_id: str, actor: str, now: float) -> IncidentChanges:
        """A person acknowledges a page: its escalation stops."""
        chain = next((c for c in self._chains if notification_id in c.notification_ids), None)
        if chain is None:
            raise UnknownIncidentError(
                f"no incident page {notification_id!r} (single-alarm pages are acked on the alarm)"
            )
        if chain.acked_by:
            raise IncidentActionError(f"{notification_id} already acknowledged by {chain.acked_by}")
        chain.acked_by = actor
        changes = IncidentChanges()
        incident = self.incidents[chain.incident_id]
        self._log(
            incident,
            changes,
            time=now,
            kind="notification_ack",
            actor=actor,
            text=f"page acknowledged by {actor}",
            ref=notification_id,
        )
        return changes

    def confirm_level(self, incident_id: str, tier: Tier, actor: str, now: float, reason: str = "") -> IncidentChanges:
        """A person sets the response level actually in force (it may differ from the proposed tier)."""
        incident = self._open_incident(incident_id)
        before = incident.confirmed_tier
        incident.confirmed_tier, incident.confirmed_by = tier, actor
        changes = IncidentChanges()
        text = f"response level confirmed: {tier.value} ({tier.response_level})" + (f": {reason}" if reason else "")
        data = _tier_change(before, tier, "confirmed", actor, reason)
        self._log(incident, changes, time=now, kind="level_confirmed", actor=actor, text=text, data=data)
        return changes

    def complete_action(self, incident_id: str, action_id: str, actor: str, now: float) -> IncidentChanges:
        """Tick a checklist item."""
        incident = self._open_incident(incident_id)
        action = incident.actions.get(action_id)
        if action is None:
            raise UnknownIncidentError(f"{incident_id} has no action {action_id!r}")
        if action.done_at is not None:
            raise IncidentActionError(f"action {action_id} already done by {action.done_by}")
        action.done_by, action.done_at = actor, now
        changes = IncidentChanges()
        self._log(
            incident, changes, time=now, kind="checklist", actor=actor, text=f"done: {action.text}", ref=action_id
        )
        return changes

    def report_sent(self, incident_id: str, report_id: str, actor: str, now: float) -> IncidentChanges:
        """Record that a report went out; its reminders stop."""
        incident = self._open_incident(incident_id)
        report = incident.reports.get(report_id)
        if report is None:
            raise UnknownIncidentError(f"{incident_id} has no report {report_id!r}")
        report.sent_by, report.sent_at = actor, now
        changes = IncidentChanges()
        late = " (late)" if now > report.due_at else ""
        self._log(
            incident,
            changes,
            time=now,
            kind="report_sent",
            actor=actor,
            text=f"{report.name} sent to {report.to}{late}",
            ref=report_id,
        )
        return changes

    def comment(self, incident_id: str, actor: str, text: str, now: float) -> IncidentChanges:
        """Add a comment to the timeline."""
        incident = self.incident(incident_id)
        changes = IncidentChanges()
        self._log(incident, changes, time=now, kind="comment", actor=actor, text=text)
        return changes

    def note(self, incident_id: str, kind: str, text: str, now: float, ref: str = "") -> IncidentChanges:
        """A line the system adds to an incident's timeline (why an assessment condition that fired a trigger holds)."""
        incident = self.incident(incident_id)
        changes = IncidentChanges()
        self._log(incident, changes, time=now, kind=kind, actor=SYSTEM, text=text, ref=ref)
        return changes

    def close(self, incident_id: str, actor: str, now: float, reason: str = "") -> IncidentChanges:
        """Close (terminate the response) - only once every alarm of the incident has returned to normal."""
        incident = self._open_incident(incident_id)
        on = [a for a in incident.alarm_ids if a in self.views and not self.views[a].returned]
        if on:
            raise IncidentActionError(f"{len(on)} alarm(s) still on or latched: {', '.join(on[:5])}")
        incident.status = IncidentStatus.CLOSED
        incident.closed_at, incident.closed_by = now, actor
        for chain in self._chains:
            if chain.incident_id == incident_id:
                chain.done = True
        changes = IncidentChanges()
        self._log(
            incident,
            changes,
            time=now,
            kind="closed",
            actor=actor,
            text="incident closed" + (f": {reason}" if reason else ""),
        )
        roles = tuple(
            self.plan.tier(incident.proposed_tier).notify if incident.proposed_tier else self.plan.alarm_paging.roles
        )
        self._notify(
            incident,
            changes,
            now=now,
            kind=NotificationKind.RESOLVE,
            tier=incident.proposed_tier,
            roles=roles,
            subject=f"resolved: {self.site}",
            deadline=None,
            step=0,
        )
        return changes

    def _open_incident(self, incident_id: str) -> Incident:
        incident = self.incident(incident_id)
        if incident.status is IncidentStatus.CLOSED:
            raise IncidentActionError(f"{incident_id} is closed")
        return incident

    # ---- output

    def _log(
        self,
        incident: Incident,
        changes: IncidentChanges,
        *,
        time: float,
        kind: str,
        actor: str,
        text: str,
        ref: str = "",
        data: dict[str, object] | None = None,
    ) -> None:
        entry = TimelineEntry(incident.incident_id, time, kind, actor, text, ref, self.drill)
        incident.timeline.append(entry)
        changes.timeline.append(entry)
        if data:
            changes.details[len(changes.timeline) - 1] = data

    def _subject(self, text: str) -> str:
        return f"[演练 DRILL] {text}" if self.drill else text

    def _deadline_s(self, spec: TierSpec, roles: tuple[str, ...], now: float) -> float:
        """The ack deadline, stretched so that every channel of every paged person has had its time first."""
        if spec.channel_timeout_s is None or spec.page_all_channels:
            return spec.ack_deadline_s
        longest = max((len(r.channels) for r in self._recipients(roles, now)), default=1)
        return max(spec.ack_deadline_s, spec.channel_timeout_s * longest)

    def _recipients(self, roles: tuple[str, ...], now: float) -> tuple[Recipient, ...]:
        return tuple(
            Recipient(p.id, p.name, role, tuple((c.type, c.address) for c in p.channels))
            for role in roles
            for p in self.roster.on_duty(role, now)
        )

    def _notify(
        self,
        incident: Incident,
        changes: IncidentChanges,
        *,
        now: float,
        kind: NotificationKind,
        tier: Tier | None,
        roles: tuple[str, ...],
        subject: str,
        deadline: float | None,
        step: int,
    ) -> NotificationIntent:
        note = NotificationIntent(
            notification_id=f"{incident.incident_id}/n{sum(e.kind == 'notification' for e in incident.timeline) + 1}",
            kind=kind,
            time=now,
            incident_id=incident.incident_id,
            tier=tier,
            roles=roles,
            recipients=self._recipients(roles, now),
            subject=self._subject(subject),
            body="\n".join(self.views[a].alarm_id for a in incident.alarm_ids if a in self.views),
            ack_deadline=deadline,
            escalation_step=step,
            alarm_ids=tuple(incident.alarm_ids),
            drill=self.drill,
            channel_timeout_s=None if tier is None else self.plan.tier(tier).channel_timeout_s,
            all_channels=tier is not None and self.plan.tier(tier).page_all_channels,
        )
        changes.notifications.append(note)
        names = ", ".join(f"{r.name} ({r.role})" for r in note.recipients) or "nobody on duty"
        self._log(
            incident,
            changes,
            time=now,
            kind="notification",
            actor=SYSTEM,
            text=f"{kind.value} page to {names}",
            ref=note.notification_id,
        )
        return note


def _above(tier: Tier, current: Tier | None) -> bool:
    return current is None or tier.rank > current.rank


def _alarm_text(tr: AlarmTransition) -> str:
    return f"{tr.alarm_id}: {tr.from_state.value} -> {tr.to_state.value} ({tr.reason}) {tr.message_en}"


def _tier_change(before: Tier | None, after: Tier | None, kind: str, by: str, why: str) -> dict[str, object] | None:
    """A tier change as structured data: from/to tier, proposed (by measurements) or confirmed (by a person)."""
    if after is None:
        return None
    return {
        "tier_change": {
            "from": before.value if before is not None else None,
            "to": after.value,
            "kind": kind,
            "response_level": after.response_level,
            "by": by,
            "why": why,
        }
    }
