"""A rule reload (SIGHUP) puts good files in force and rejects bad ones, keeping the running rules."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from detectors.substances import SUBSTANCES
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
    rules.write_text(RULE.format(rule_id="only-level1", condition="gas.level1"))
    port = free_port()
    prefix = f"hwtest-{unique}"
    config = service_config(f"embedded:127.0.0.1:{port}", f"sqlite:///{tmp_path / 'db.sqlite'}", prefix, unique)
    config.alarms.rule_files = [rules]
    topic = f"{prefix}/{demo_site.site}/gas-e03"
    t0 = time.time() - 1000
    level1 = SUBSTANCES[next(s for d in demo_site.devices if d.id == "gas-e03" for s in d.sensors).substance or ""]

    async with running_service(config, demo_site) as service:
        base = f"http://127.0.0.1:{service.http_port}"

        async def alarms(rule: str) -> list[dict[str, Any]]:
            rows = (await get_json(f"{base}/api/alarms"))["alarms"]
            return [r for r in rows if r["rule"] == rule]

        async def gas(factor: float, t: float) -> None:
            reading = ("h2s", factor * level1.occupational_limit_ppm, "ppm")
            await publish(("127.0.0.1", port), [(topic, senml("gas-e03", [reading], t))])

        await gas(4.0, t0)
        await eventually(lambda: alarms("only-level1"))

        rules.write_text("rules:\n  - id: broken\n    condition: {name: no.such.condition}\n")
        assert service.reload() is False
        assert [r.id for r in service.setup.rules] == ["only-level1"]

        # The new rule watches a condition that is already on: it raises at once, with no new reading.
        rules.write_text(RULE.format(rule_id="only-level2", condition="gas.level2"))
        assert service.reload() is True
        await eventually(lambda: alarms("only-level2"))
        await service.drain()
        (old,) = await alarms("only-level1")
        assert old["state"] == "normal"
