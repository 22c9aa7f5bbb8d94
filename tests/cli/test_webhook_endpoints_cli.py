"""`gateway webhook-endpoints list|disable|enable` and `gateway deliveries
list|retry` (API.md "Running", issue 18 point 6), against the real database."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner, Result
from redis import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.models import AuditEntry
from gateway.cli import main
from gateway.core.clock import SystemClock
from gateway.core.ids import new_id
from gateway.merchants.service import MerchantService
from gateway.processors.simulator import Simulator
from gateway.webhooks.outbound.models import WebhookEndpoint
from tests.jobs.conftest import job_environment  # noqa: F401 - a fixture
from tests.webhooks.conftest import run_committed
from tests.webhooks.outbound.conftest import delivery_row


def gateway(*arguments: str) -> Result:
    return CliRunner().invoke(main, list(arguments))


def _endpoint(merchant_id: str, *, livemode: bool, age: timedelta) -> WebhookEndpoint:
    at = SystemClock().now() - age
    return WebhookEndpoint(
        id=new_id("wep"), merchant_id=merchant_id, livemode=livemode,
        url="http://127.0.0.1:9/in", events=["*"], description=None, disabled=False,
        disabled_reason=None, secret_encrypted="sealed elsewhere", created_at=at, updated_at=at,
    )  # fmt: skip


@pytest.fixture
def rows(job_environment: Redis) -> dict[str, str]:  # noqa: F811 - the fixture imported above
    """Two merchants' endpoints (one live), and deliveries of the first's."""

    async def work(session: AsyncSession, _: Simulator) -> dict[str, str]:
        merchants = MerchantService(session, SystemClock())
        shop = await merchants.create_merchant("CLI Shop")
        other = await merchants.create_merchant("Other Shop")
        first = _endpoint(shop.id, livemode=False, age=timedelta(minutes=3))
        live = _endpoint(shop.id, livemode=True, age=timedelta(minutes=2))
        others = _endpoint(other.id, livemode=False, age=timedelta(minutes=1))
        session.add_all([first, live, others])
        await session.flush()
        now = SystemClock().now()
        statuses = {"old_dead": ("dead", 48), "dead": ("dead", 3), "failed": ("failed", 2),
                    "done": ("succeeded", 1)}  # fmt: skip
        made = {
            name: delivery_row(
                first.id, shop.id, status=status, created_at=now - timedelta(hours=hours)
            )
            for name, (status, hours) in statuses.items()
        }
        session.add_all(made.values())
        return {
            "shop": shop.id, "other": other.id, "first": first.id, "live": live.id,
            "others": others.id, **{name: row.id for name, row in made.items()},
        }  # fmt: skip

    return run_committed(work)


def listed(*arguments: str) -> list[dict[str, object]]:
    result = gateway(*arguments, "--json")
    assert result.exit_code == 0, result.output
    data: list[dict[str, object]] = json.loads(result.stdout)["data"]
    return data


def test_endpoints_are_listed_across_merchants_and_modes(rows: dict[str, str]) -> None:
    every = listed("webhook-endpoints", "list")
    assert [row["id"] for row in every] == [rows["others"], rows["live"], rows["first"]]
    assert "secret" not in every[0]
    assert {row["merchant_id"] for row in every} == {rows["shop"], rows["other"]}
    mine = listed("webhook-endpoints", "list", "--merchant", rows["shop"])
    assert [row["id"] for row in mine] == [rows["live"], rows["first"]]
    human = gateway("webhook-endpoints", "list")
    assert human.stdout.splitlines()[0].split()[:4] == ["ID", "MERCHANT", "MODE", "EVENTS"]


def test_disable_with_a_reason_then_enable(rows: dict[str, str]) -> None:
    disabled = gateway("webhook-endpoints", "disable", rows["first"], "--reason", "abuse", "--json")
    assert disabled.exit_code == 0, disabled.output
    assert json.loads(disabled.stdout)["disabled_reason"] == "abuse"
    enabled = gateway("webhook-endpoints", "enable", rows["first"])
    assert enabled.exit_code == 0
    assert f"{rows['first']} enabled" in enabled.stdout
    row = next(r for r in listed("webhook-endpoints", "list") if r["id"] == rows["first"])
    assert (row["disabled"], row["disabled_reason"]) == (False, None)
    assert gateway("webhook-endpoints", "disable", "wep_0000000000000000").exit_code == 1

    async def audited(session: AsyncSession, _: Simulator) -> list[str]:
        statement = select(AuditEntry.action).where(AuditEntry.object_id == rows["first"])
        return sorted((await session.scalars(statement)).all())

    assert run_committed(audited) == ["webhook_endpoint.disable", "webhook_endpoint.enable"]


def test_deliveries_are_listed_by_status_and_endpoint(rows: dict[str, str]) -> None:
    dead = listed("deliveries", "list", "--status", "dead")
    assert [row["id"] for row in dead] == [rows["dead"], rows["old_dead"]]
    assert listed("deliveries", "list", "--endpoint", rows["live"]) == []
    assert len(listed("deliveries", "list", "--endpoint", rows["first"])) == 4
    assert gateway("deliveries", "list", "--endpoint", "wep_0000000000000000").exit_code == 1


def test_retry_by_ids_makes_them_due_and_an_unknown_id_changes_nothing(
    rows: dict[str, str],
) -> None:
    unknown = gateway("deliveries", "retry", rows["dead"], "whd_0000000000000000")
    assert unknown.exit_code == 1
    assert "whd_0000000000000000" in unknown.stderr
    result = gateway("deliveries", "retry", rows["dead"], rows["done"], "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["retried"] == 2
    statuses = {r["id"]: r["status"] for r in listed("deliveries", "list")}
    assert statuses[rows["dead"]] == statuses[rows["done"]] == "pending"
    assert statuses[rows["old_dead"]] == "dead"


def test_retry_of_an_endpoints_window_requeues_only_failed_and_dead(rows: dict[str, str]) -> None:
    since = (SystemClock().now() - timedelta(days=1)).isoformat()
    result = gateway("deliveries", "retry", "--endpoint", rows["first"], "--since", since)
    assert result.exit_code == 0, result.output
    assert "retried 2 delivery(ies)" in result.stdout
    statuses = {r["id"]: r["status"] for r in listed("deliveries", "list")}
    assert [statuses[rows[n]] for n in ("old_dead", "dead", "failed", "done")] == [
        "dead", "pending", "pending", "succeeded",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "arguments",
    [
        ["deliveries", "retry"],
        ["deliveries", "retry", "whd_1", "--endpoint", "wep_1"],
        ["deliveries", "retry", "--endpoint", "wep_1"],
        ["deliveries", "retry", "--endpoint", "wep_1", "--since", "2026-01-01T00:00:00"],
        ["deliveries", "retry", "whd_1", "--since", "2026-01-01T00:00:00Z"],
    ],
)
def test_retry_needs_ids_or_an_endpoint_and_an_aware_since(arguments: list[str]) -> None:
    assert gateway(*arguments).exit_code == 2
