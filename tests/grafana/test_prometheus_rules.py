"""hazwatch's own health rules: promtool accepts them, and every alert has a firing and a quiet unit test."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.grafana.conftest import GRAFANA_DIR

PROMETHEUS_DIR = GRAFANA_DIR / "prometheus"


def _promtool(promtool: str, *args: str, cwd: Path = PROMETHEUS_DIR) -> str:
    result = subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _alert_names() -> set[str]:
    groups = yaml.safe_load((PROMETHEUS_DIR / "rules.yml").read_text())["groups"]
    return {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}


def test_promtool_checks_the_rules_and_the_config(promtool: str) -> None:
    assert "SUCCESS" in _promtool(promtool, "check", "rules", "rules.yml")
    assert "SUCCESS" in _promtool(promtool, "check", "config", "prometheus.yml")


def test_promtool_rule_unit_tests_pass(promtool: str) -> None:
    assert "SUCCESS" in _promtool(promtool, "test", "rules", "rules_test.yml")


def test_every_alert_is_tested_firing_and_quiet() -> None:
    tests = yaml.safe_load((PROMETHEUS_DIR / "rules_test.yml").read_text())["tests"]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    alerts = _alert_names()
    assert alerts, "rules.yml has no alerts"
    assert alerts - firing == set(), "alerts without a firing test"
    assert alerts - quiet == set(), "alerts without a not-firing test"


def test_every_alert_has_severity_summary_and_description() -> None:
    groups = yaml.safe_load((PROMETHEUS_DIR / "rules.yml").read_text())["groups"]
    for rule in (r for g in groups for r in g["rules"] if "alert" in r):
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert rule["annotations"]["description"].strip(), rule["alert"]


def test_a_broken_rule_test_is_caught(tmp_path: Path, promtool: str) -> None:
    """The unit tests can fail: a wrong expectation makes promtool exit non-zero."""
    (tmp_path / "rules.yml").write_text((PROMETHEUS_DIR / "rules.yml").read_text())
    broken = (PROMETHEUS_DIR / "rules_test.yml").read_text().replace("severity: critical", "severity: info", 1)
    (tmp_path / "rules_test.yml").write_text(broken)
    result = subprocess.run(
        [promtool, "test", "rules", "rules_test.yml"], cwd=tmp_path, capture_output=True, check=False
    )
    assert result.returncode != 0
