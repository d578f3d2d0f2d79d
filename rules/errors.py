"""Errors raised by the rules package."""

from __future__ import annotations


class RulesError(Exception):
    """Base of every rules error."""


class AlarmActionError(RulesError):
    """An operator action that the alarm's current state does not allow (e.g. acknowledging a normal alarm)."""


class UnknownAlarmError(RulesError, KeyError):
    """No alarm with that id exists."""
