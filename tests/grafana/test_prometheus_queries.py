"""Every dashboard query and every rule, run by a real Prometheus scraping a real service fed by the demo feed.

The tests only read: one service and one Prometheus serve the whole module (kept on one xdist worker by its group).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import yaml

from daemon.service import Service
from rules.site import Site
from tests.conftest import free_port
from tests.grafana.conftest import GRAFANA_DIR, service_factory
from tests.grafana.dashboard_queries import (
    BUILTINS,
    DASHBOARD_FILES,
    grafana_value,
    load,
    panel_queries,
    resolve_variables,
    substitute,
    variables,
)

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.xdist_group("prometheus-demo")]


@dataclass
class Prometheus:
    """A running Prometheus and a client for its HTTP API."""

    url: str
    session: aiohttp.ClientSession

    async def get(self, path: str, **params: str) -> dict[str, Any]:
        """GET an API path and return the decoded body, whatever the status."""
        async with self.session.get(f"{self.url}{path}", params=params) as response:
            body: dict[str, Any] = await response.json(content_type=None)
            return body

    async def query(self, expr: str) -> dict[str, Any]:
        """Instant query."""
        return await self.get("/api/v1/query", query=expr)

    async def label_values(self, match: str | None, label: str) -> list[str]:
        """What Grafana's ``label_values(match, label)`` returns."""
        if match is None:
            body = await self.get(f"/api/v1/label/{label}/values")
            return sorted(body["data"])
        body = await self.get("/api/v1/series", **{"match[]": match})
        assert body["status"] == "success", body
        return sorted({series[label] for series in body["data"] if label in series})


def _prometheus_config(tmp_path: Path, http_port: int) -> Path:
    """The repository's scrape config, pointed at the test service and sped up to one scrape a second."""
    config = yaml.safe_load((GRAFANA_DIR / "prometheus" / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    (job,) = config["scrape_configs"]
    job["scrape_timeout"] = "1s"
    job["static_configs"] = [{"targets": [f"127.0.0.1:{http_port}"]}]
    config["rule_files"] = [str(GRAFANA_DIR / "prometheus" / "rules.yml")]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def demo_service(tmp_path_factory: pytest.TempPathFactory, demo_site: Site) -> AsyncIterator[Service]:
    """The service with the demo feed publishing every device of the demo site."""
    async with service_factory(tmp_path_factory.mktemp("demo-service"), demo_site) as start:
        service = await start(demo=True)
        async with asyncio.timeout(20):
            await service.wait_connected()
        yield service


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def prometheus(
    tmp_path_factory: pytest.TempPathFactory, demo_service: Service, prometheus_binary: str
) -> AsyncIterator[Prometheus]:
    """A real Prometheus scraping the demo service every second, with hazwatch's rules loaded."""
    assert demo_service.http_port is not None
    tmp_path = tmp_path_factory.mktemp("prometheus")
    config = _prometheus_config(tmp_path, demo_service.http_port)
    port = free_port()
    log_path = tmp_path / "prometheus.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            prometheus_binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            stdout=log,
            stderr=log,
        )
    try:
        async with aiohttp.ClientSession() as session:
            client = Prometheus(f"http://127.0.0.1:{port}", session)
            async with asyncio.timeout(30):
                while True:
                    assert process.returncode is None, log_path.read_text()
                    with contextlib.suppress(aiohttp.ClientError):
                        async with session.get(f"{client.url}/-/ready") as response:
                            if response.status == 200:
                                break
                    await asyncio.sleep(0.2)
            yield client
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


async def _wait_for_data(prometheus: Prometheus, n_sensors: int) -> None:
    """Every sensor reported, and enough scrapes for rate() over $__rate_interval."""
    state: dict[str, float] = {"sensors": 0.0, "scrapes": 0.0}

    async def refresh() -> None:
        for key, expr in (
            ("sensors", "count(hazwatch_sensor_value)"),
            ("scrapes", 'count_over_time(up{job="hazwatch"}[1m])'),
        ):
            result = (await prometheus.query(expr))["data"]["result"]
            state[key] = float(result[0]["value"][1]) if result else 0.0

    async with asyncio.timeout(45):
        while state["sensors"] < n_sensors or state["scrapes"] < 6:
            await asyncio.sleep(0.5)
            await refresh()


async def _query_until_data(prometheus: Prometheus, expr: str, within_s: float = 15.0) -> dict[str, Any]:
    """The query's answer, asked again while it is a success with no series, for up to ``within_s``.

    One scrape that times out (1 s here; the suite's start-up on two cores can take longer) makes Prometheus mark every
    series of the target stale at once, so instant queries find nothing until the next good scrape (CI failed so once:
    the dashboards' gamma, gas and wind panels all "no series" together). A panel whose query never finds data still
    fails, after ``within_s``.
    """
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        body = await prometheus.query(expr)
        empty = body["status"] == "success" and not body["data"]["result"]
        if not empty or asyncio.get_running_loop().time() > deadline:
            return body
        await asyncio.sleep(0.5)


@pytest.mark.slow
async def test_every_dashboard_query_and_rule_runs_on_real_prometheus(
    prometheus: Prometheus, demo_service: Service
) -> None:
    await _wait_for_data(prometheus, len(demo_service.table))
    failures: list[str] = []
    checked = 0
    for name in DASHBOARD_FILES:
        board = load(name)
        options = await resolve_variables(board, prometheus.label_values)
        for variable in variables(board):
            if not options[variable["name"]]:
                failures.append(f"{name}: variable ${variable['name']} has no values")
        by_name = {v["name"]: v for v in variables(board)}
        for query in panel_queries(name):
            values = dict(BUILTINS)
            for var_name, var_options in options.items():
                if var_options:
                    values[var_name] = grafana_value(by_name[var_name], var_options, repeated=query.repeat == var_name)
            expr = substitute(query.expr, values)
            assert "$" not in expr, f"{name} / {query.panel_title}: unresolved variable in {expr}"
            body = await _query_until_data(prometheus, expr)
            checked += 1
            if body["status"] != "success":
                failures.append(f"{name} / {query.panel_title}: {body.get('error')}\n  {expr}")
            elif not body["data"]["result"]:
                failures.append(f"{name} / {query.panel_title}: no series\n  {expr}")
    groups = yaml.safe_load((GRAFANA_DIR / "prometheus" / "rules.yml").read_text())["groups"]
    for rule in (r for g in groups for r in g["rules"]):
        body = await prometheus.query(rule["expr"])
        checked += 1
        if body["status"] != "success":
            failures.append(f"rule {rule.get('alert') or rule.get('record')}: {body.get('error')}")
    assert not failures, "\n".join(failures)
    assert checked > 60


@pytest.mark.slow  # a real Prometheus and the service it scrapes, shared with the test above
async def test_prometheus_loaded_the_rules_and_scrapes_the_service(prometheus: Prometheus) -> None:
    """The rules file loads in a real Prometheus and the target is up; the service's own alerts stay quiet."""
    rules = await prometheus.get("/api/v1/rules")
    names = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
    assert {"HazwatchDown", "HazwatchNoReadings", "HazwatchMqttDisconnected"} <= names
    async with asyncio.timeout(20):
        while True:
            result = (await prometheus.query('up{job="hazwatch"}'))["data"]["result"]
            if result and result[0]["value"][1] == "1":
                break
            await asyncio.sleep(0.5)
    alerts = await prometheus.get("/api/v1/alerts")
    firing = [a["labels"]["alertname"] for a in alerts["data"]["alerts"] if a["state"] == "firing"]
    assert "HazwatchDown" not in firing
    assert "HazwatchMqttDisconnected" not in firing
