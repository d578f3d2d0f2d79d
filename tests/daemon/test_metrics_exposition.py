"""The real /metrics output passes `promtool check metrics`."""

from __future__ import annotations

import shutil
import subprocess
import time

import aiohttp

from rules.site import Site
from tests.conftest import free_port, running_service, service_config
from tests.helpers import eventually, publish, senml


async def test_metrics_pass_promtool(sqlite_url: str, demo_site: Site, unique: str) -> None:
    """Metric names, types and help strings follow Prometheus conventions."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: install the Debian package prometheus (.ci/run does)"
    port = free_port()
    prefix = f"hwtest-{unique}"
    config = service_config(f"embedded:127.0.0.1:{port}", sqlite_url, prefix, f"svc-{unique}")
    async with running_service(config, demo_site) as service:
        now = time.time()
        await publish(
            ("127.0.0.1", port),
            [
                (f"{prefix}/{demo_site.site}/gamma-01", senml("gamma-01", [("dose_rate", 95.0, "nSv/h")], now)),
                (f"{prefix}/{demo_site.site}/gamma-01", b"not json"),
            ],
        )

        async def scraped() -> str:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{service.http_port}/metrics") as response,
            ):
                text = await response.text()
            return text if "hazwatch_sensor_value{" in text and 'reason="invalid_json"} 1.0' in text else ""

        text = await eventually(scraped)
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'sensor="gamma-01-dose"' in text
