"""Errors raised by the plans package."""

from __future__ import annotations


class PlansError(Exception):
    """Base of every plans error."""


class IncidentActionError(PlansError):
    """A person's action that the incident's current state does not allow (e.g. closing while alarms are on)."""


class UnknownIncidentError(PlansError, KeyError):
    """No incident, notification, action or report with that id."""
