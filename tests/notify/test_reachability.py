"""check-config says when someone cannot be reached: unset placeholders, no deliverable channel, uncovered hours."""

from __future__ import annotations

from pathlib import Path

from daemon.commands.check_config import check_files
from daemon.notify.config import NotifyConfig
from daemon.notify.reachability import coverage_issues, delivery_issues
from plans.loading import DEFAULT_ROSTER, load_roster
from plans.roster import Roster

SMS_CONFIG = NotifyConfig.model_validate(
    {
        "providers": {
            "sms": "http",
            "http_sms": {"url": "http://127.0.0.1:9/send", "body": '{"to": "{{to}}", "text": "{{text}}"}'},
        }
    }
)
ROSTER = {
    "roles": [{"id": "duty_officer", "name": "duty"}, {"id": "director", "name": "director"}],
    "people": [
        {"id": "a", "name": "A", "roles": ["duty_officer"], "channels": [{"type": "phone", "address": "${A_PHONE}"},
                                                                           {"type": "sms", "address": "${A_PHONE}"}]},
        {"id": "b", "name": "B", "roles": ["duty_officer"], "channels": [{"type": "phone", "address": "138"}]},
    ],
    "shifts": [
        {"role": "duty_officer", "person": "a", "start": "08:00", "end": "20:00"},
        {"role": "duty_officer", "person": "b", "days": [0, 1, 2, 3, 4], "start": "20:00", "end": "08:00"},
    ],
}  # fmt: skip


def test_unset_placeholder_and_person_without_deliverable_channel_are_reported() -> None:
    roster = Roster.model_validate(ROSTER)
    issues = delivery_issues(roster, SMS_CONFIG, {})
    assert "roster: a: phone address ${A_PHONE}: A_PHONE not set in the environment" in issues
    assert any(
        i.startswith("roster: b has no channel this configuration can deliver (phone: no voice-call") for i in issues
    )
    resolved = delivery_issues(roster, SMS_CONFIG, {"A_PHONE": "13800000000"})
    assert [i for i in resolved if i.startswith("roster: a")] == []  # a's SMS can be delivered


def test_a_role_nobody_fills_at_some_hour_names_the_hours() -> None:
    issues = coverage_issues(Roster.model_validate(ROSTER))
    # b's night shift starts Monday to Friday: the nights into Saturday 20:00-24:00, Sunday and Monday are empty.
    assert issues[0] == (
        "roster: role duty_officer has no one on shift at Mon 00:00, Mon 01:00, Mon 02:00, Mon 03:00, Mon 04:00, "
        "Mon 05:00 and 18 more hours (local time)"
    )
    assert "roster: role director is held by nobody" in issues


def test_the_shipped_roster_covers_every_hour() -> None:
    assert coverage_issues(load_roster(DEFAULT_ROSTER)) == []


def test_check_config_with_a_config_file_checks_the_shipped_roster_reaches_people(
    tmp_path: Path, monkeypatch: object
) -> None:
    config = tmp_path / "hazwatch.toml"
    config.write_text("[notify.providers]\nsms = 'http'\n[notify.providers.http_sms]\nurl = 'http://127.0.0.1:9/'\n")
    problems = check_files([config])
    assert any("HAZWATCH_PHONE_ZHANG_WEI not set in the environment" in p for p in problems), problems
    assert any("wang-qiang has no channel this configuration can deliver" in p for p in problems), problems
