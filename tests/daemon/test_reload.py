"""A rule reload (SIGHUP) puts good files in force and rejects bad ones, keeping the running rules."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rules.site import Site
from tests.conftest import free_port, running_service, service_config
from tests.helpers import eventually, get_json, publish, senml

RULE = """rules:
  - id: {rule_id}
    condition: {{name: {condition}}}
    priority: medium
    classification: suspicious
    message: {{zh: "{{sensor}} {{value}}", en: "{{sensor}} {{value}}"}}
"""


async def test_reload_good_and_bad_rule_files(tmp_path: Path, demo_site: Site, unique: str) -> None:
    """Bad file: rejected, old rule still raises. Good file: removed rule's alarm ends, new rule raises."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULE.format(rule_id="only-high", condition="threshold.high"))
    port = free_port()
    prefix = f"hwtest-{unique}"
    config = service_config(f"embedded:127.0.0.1:{port}", f"sqlite:///{tmp_path / 'db.sqlite'}", prefix, unique)
    config.alarms.rule_files = [rules]
    topic = f"{prefix}/{demo_site.site}/gamma-05"
    t0 = time.time() - 1000

    async with running_service(config, demo_site) as service:
        base = f"http://127.0.0.1:{service.http_port}"

        async def alarms(rule: str) -> list[dict[str, Any]]:
            rows = (await get_json(f"{base}/api/alarms"))["alarms"]
            return [r for r in rows if r["rule"] == rule]

        async def dose(value: float, t: float) -> None:
            await publish(("127.0.0.1", port), [(topic, senml("gamma-05", [("dose_rate", value, "nSv/h")], t))])

        await dose(5000.0, t0)
        await dose(5000.0, t0 + 130)
        await eventually(lambda: alarms("only-high"))

        rules.write_text("rules:\n  - id: broken\n    condition: {name: no.such.condition}\n")
        assert service.reload() is False
        assert [r.id for r in service.setup.rules] == ["only-high"]

        rules.write_text(RULE.format(rule_id="only-high-high", condition="threshold.high_high"))
        assert service.reload() is True
        await dose(5000.0, t0 + 200)
        await dose(5000.0, t0 + 330)
        await eventually(lambda: alarms("only-high-high"))
        await service.drain()
        (old,) = await alarms("only-high")
        assert old["state"] == "normal"
