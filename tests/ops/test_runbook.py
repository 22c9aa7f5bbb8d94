"""The runbook and the alert rules name only what exists: every metric is exposed
at /metrics, every log event is logged somewhere in the code, every command is a
`gateway` command, every alert points at a runbook section, and each resilience
state of the issue has its section."""

from __future__ import annotations

import re
from pathlib import Path

import click
import httpx
import pytest

from gateway.cli.main import main as gateway_command
from tests.ops.exposed_metrics import exposed_names, with_pending

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = (ROOT / "ops" / "runbook.md").read_text()
ALERTS = (ROOT / "ops" / "prometheus" / "alerts.yml").read_text()
SOURCES = "\n".join(
    path.read_text() for folder in ("src", "jobs") for path in (ROOT / folder).rglob("*.py")
)

STATES = (
    "Breaker open",
    "Pending backlog",
    "Requires review",
    "Dead letters",
    "Outbox lag",
    "Redis down",
    "Database down",
    "Webhook delivery backlog",
    "Webhook delivery failures",
    "API down or erroring",
    "Queue backlog",
    "No worker alive",
    "Billing lag",
    "Inbound webhook backlog",
)


def metric_names(text: str) -> set[str]:
    return set(re.findall(r"\b(gateway_[a-z_]+)\b", text))


def section_anchors(markdown: str) -> set[str]:
    """GitHub's anchors for the `## ` headings."""
    return {
        re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")
        for heading in re.findall(r"^## (.+)$", markdown, re.MULTILINE)
    }


async def test_every_metric_named_is_exposed(client: httpx.AsyncClient) -> None:
    await client.get("/api/v1/health/live")  # request metrics exist from the first request
    exposed = with_pending(exposed_names((await client.get("/api/v1/metrics")).text))
    named = metric_names(RUNBOOK) | metric_names(ALERTS)
    assert named, "the runbook names the metrics to watch"
    assert named - exposed == set()


def test_every_log_event_named_is_logged_by_the_code() -> None:
    events = set(re.findall(r"`([a-z_]+\.[a-z_]+)`", RUNBOOK)) - {"alerts.yml", "runbook.md"}
    assert {"breaker.opened", "webhook.dead_lettered", "database.unavailable"} <= events
    missing = {event for event in events if f'"{event}"' not in SOURCES}
    assert missing == set()


def test_every_command_named_exists() -> None:
    commands = set(re.findall(r"`gateway ([a-z-]+(?: [a-z-]+)?)", RUNBOOK))
    assert commands
    for command in commands:
        words = command.split()
        found = gateway_command.commands.get(words[0])
        assert found is not None, command
        if isinstance(found, click.Group) and len(words) > 1:
            assert words[1] in found.commands, command


def test_every_alert_points_at_a_section() -> None:
    anchors = section_anchors(RUNBOOK)
    pointed = set(re.findall(r'runbook_url: "ops/runbook\.md#([a-z0-9-]+)"', ALERTS))
    assert pointed
    assert pointed - anchors == set()


@pytest.mark.parametrize("state", STATES)
def test_each_resilience_state_has_its_section(state: str) -> None:
    section = re.search(rf"^## {state}.*?(?=^## |\Z)", RUNBOOK, re.MULTILINE | re.DOTALL)
    assert section is not None
    assert "**Shows as:**" in section.group(0)
    assert "**Do:**" in section.group(0)
