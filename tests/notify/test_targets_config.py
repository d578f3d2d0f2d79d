"""Route destinations are system targets; the roster is the one list of people. Older files still load."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from daemon.notify.config import NotifyConfig

HOOK = {"name": "ops-room", "channels": [{"type": "webhook", "url": "http://127.0.0.1:9/ops"}]}
ROUTE = {"name": "all", "recipients": ["ops-room"]}


def test_targets_and_the_older_people_key_load_the_same() -> None:
    new = NotifyConfig.model_validate({"targets": [HOOK], "routes": [ROUTE]})
    old = NotifyConfig.model_validate({"people": [HOOK], "routes": [ROUTE]})
    assert new == old
    assert new.target("ops-room").channels[0].url == "http://127.0.0.1:9/ops"
    assert new.live_route_targets() == {("webhook", "http://127.0.0.1:9/ops")}


def test_a_route_naming_no_target_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"route 'all' names unknown recipients \['ops-room'\]"):
        NotifyConfig.model_validate({"routes": [ROUTE]})
