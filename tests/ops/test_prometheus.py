"""The Prometheus side of ops/ (issue 21 point 2): the rules and the scrape
configuration are what promtool accepts, every alert has a unit test of its own in
ops/prometheus/tests/ and passes it, and every alert says how bad it is and which
runbook section to open."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.ops.test_runbook import RUNBOOK, section_anchors
from tests.ops.tools import OPS, run, tool

PROMETHEUS = OPS / "prometheus"
SEVERITIES = {"critical", "warning", "info"}


def _alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


@pytest.mark.slow
def test_promtool_accepts_the_rules_and_the_configuration() -> None:
    promtool = tool("promtool")
    run(promtool, "check", "rules", "alerts.yml", cwd=PROMETHEUS)
    # Checks the rule files it names too, and that the token file exists.
    run(promtool, "check", "config", "prometheus.yml", cwd=PROMETHEUS)


@pytest.mark.slow
def test_every_alert_passes_its_promtool_unit_tests() -> None:
    promtool = tool("promtool")
    tests = sorted(path.name for path in (PROMETHEUS / "tests").glob("*.yml"))
    assert tests
    run(promtool, "test", "rules", *tests, cwd=PROMETHEUS / "tests")


def test_every_alert_has_a_unit_test_that_expects_it_to_fire() -> None:
    tested = "\n".join(path.read_text() for path in (PROMETHEUS / "tests").glob("*.yml"))
    firing = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts:", tested))
    assert {rule["alert"] for rule in _alerts()} - firing == set()


def test_every_alert_has_a_severity_and_a_runbook_section() -> None:
    anchors = section_anchors(RUNBOOK)
    for rule in _alerts():
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert page == "ops/runbook.md", rule["alert"]
        assert anchor in anchors, rule["alert"]


def test_every_scrape_sends_the_metrics_token_from_a_file() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {"gateway-api", "gateway-worker"} <= jobs.keys()
    for job in jobs.values():
        assert job["authorization"] == {"type": "Bearer", "credentials_file": "metrics-token"}
    assert "credentials:" not in (PROMETHEUS / "prometheus.yml").read_text()
