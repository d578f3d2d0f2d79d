"""The API's operations on one instance of a pair: every action goes through the shared log (``operator_actions``)."""

from __future__ import annotations

from typing import Any

from daemon.ha.operator_actions import ActionLog


class SharedOperations:
    """``daemon.web.api.operations.Operations`` whose actions the leader applies, whichever instance took them."""

    def __init__(self, log: ActionLog) -> None:
        self._log = log

    async def _submit(self, kind: str, **args: Any) -> dict[str, Any]:
        answer = await self._log.submit(kind, args)
        return dict(answer)

    async def acknowledge_alarm(self, alarm_id: int, actor: str, now: float, reason: str = "") -> dict[str, Any]:
        """Acknowledge an alarm (and its notifications)."""
        return await self._submit("acknowledge_alarm", alarm_id=alarm_id, actor=actor, now=now, reason=reason)

    async def shelve_alarm(
        self, alarm_id: int, actor: str, now: float, duration_s: float, reason: str
    ) -> dict[str, Any]:
        """Shelve an alarm for ``duration_s``."""
        return await self._submit(
            "shelve_alarm", alarm_id=alarm_id, actor=actor, now=now, duration_s=duration_s, reason=reason
        )

    async def unshelve_alarm(self, alarm_id: int, actor: str, now: float, reason: str = "") -> dict[str, Any]:
        """Return a shelved alarm to its state before shelving."""
        return await self._submit("unshelve_alarm", alarm_id=alarm_id, actor=actor, now=now, reason=reason)

    async def reset_alarm(self, alarm_id: int, actor: str, now: float, reason: str = "") -> dict[str, Any]:
        """Reset a latched alarm whose condition has cleared."""
        return await self._submit("reset_alarm", alarm_id=alarm_id, actor=actor, now=now, reason=reason)

    async def comment_alarm(self, alarm_id: int, actor: str, now: float, text: str) -> dict[str, Any]:
        """Add a comment to an alarm's history."""
        return await self._submit("comment_alarm", alarm_id=alarm_id, actor=actor, now=now, text=text)

    async def acknowledge_notification(self, notification_id: int, actor: str, now: float) -> dict[str, Any]:
        """Acknowledge one notification (stops its escalation)."""
        return await self._submit("acknowledge_notification", notification_id=notification_id, actor=actor, now=now)

    async def set_sensor_service(
        self, sensor_id: str, out_of_service: bool, actor: str, now: float, reason: str
    ) -> dict[str, Any]:
        """Put a sensor out of service or back in service."""
        return await self._submit(
            "set_sensor_service",
            sensor_id=sensor_id,
            out_of_service=out_of_service,
            actor=actor,
            now=now,
            reason=reason,
        )

    async def comment_incident(self, incident_id: int, actor: str, now: float, text: str) -> dict[str, Any]:
        """Add a comment to an incident's timeline."""
        return await self._submit("comment_incident", incident_id=incident_id, actor=actor, now=now, text=text)

    async def tick_checklist_item(self, incident_id: int, item_id: int, actor: str, now: float) -> dict[str, Any]:
        """Mark a checklist item done."""
        return await self._submit("tick_checklist_item", incident_id=incident_id, item_id=item_id, actor=actor, now=now)

    async def confirm_level(
        self, incident_id: int, level: str, actor: str, now: float, reason: str = ""
    ) -> dict[str, Any]:
        """Confirm the response level (I-IV) of an incident."""
        return await self._submit(
            "confirm_level", incident_id=incident_id, level=level, actor=actor, now=now, reason=reason
        )

    async def close_incident(self, incident_id: int, actor: str, now: float, reason: str = "") -> dict[str, Any]:
        """Close an incident whose alarms have all cleared."""
        return await self._submit("close_incident", incident_id=incident_id, actor=actor, now=now, reason=reason)

    async def reset_credibility(self, sensor_id: str, actor: str, now: float, reason: str) -> dict[str, Any]:
        """Operator reset of "reading not credible" at a sensor (the leader's detection core holds the latch)."""
        return await self._submit("reset_credibility", sensor_id=sensor_id, actor=actor, now=now, reason=reason)
