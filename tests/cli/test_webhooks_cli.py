"""`gateway webhooks list|replay`: every stored event, matched or not (API.md
"Running"), against the real database and Redis."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner, Result
from redis import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.cli import main
from gateway.core.clock import SystemClock
from gateway.core.ids import new_id
from gateway.core.queues import RELAY_NUDGE_ID, rq_queue
from gateway.merchants.service import MerchantService
from gateway.processors.simulator import Simulator
from gateway.webhooks.models import WebhookEvent
from tests.jobs.conftest import job_environment  # noqa: F401 - a fixture
from tests.webhooks.conftest import run_committed


def gateway(*arguments: str) -> Result:
    return CliRunner().invoke(main, list(arguments))


def _event(status: str, *, merchant_id: str | None, age: timedelta) -> WebhookEvent:
    at = SystemClock().now() - age
    return WebhookEvent(
        id=new_id("we"), source="simulator", notification_id=new_id("we"),
        event_type="net.authorize.payment.void.created", entity_id="60000000007",
        entity_name="transaction", status=status, attempts=1, merchant_id=merchant_id,
        livemode=None if merchant_id is None else False,
        outcome="unmatched" if status == "processed" else None,
        received_at=at, updated_at=at, published_at=at, replays=0,
    )  # fmt: skip


@pytest.fixture
def events(job_environment: Redis) -> dict[str, str]:  # noqa: F811 - the fixture imported above
    async def work(session: AsyncSession, _: Simulator) -> dict[str, str]:
        merchant = await MerchantService(session, SystemClock()).create_merchant("CLI Shop")
        made = {
            "unmatched": _event("processed", merchant_id=None, age=timedelta(minutes=3)),
            "dead": _event("dead", merchant_id=merchant.id, age=timedelta(minutes=2)),
            "dead_unmatched": _event("dead", merchant_id=None, age=timedelta(minutes=1)),
        }
        session.add_all(made.values())
        return {name: event.id for name, event in made.items()}

    return run_committed(work)


def test_list_shows_every_event_matched_or_not(events: dict[str, str]) -> None:
    result = gateway("webhooks", "list", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)["data"]
    assert [row["id"] for row in listed] == [
        events["dead_unmatched"],
        events["dead"],
        events["unmatched"],
    ]
    assert listed[2]["outcome"] == "unmatched"
    assert listed[1]["merchant_id"] is not None
    dead = json.loads(gateway("webhooks", "list", "--status", "dead", "--json").stdout)
    assert {row["id"] for row in dead["data"]} == {events["dead"], events["dead_unmatched"]}
    human = gateway("webhooks", "list")
    assert human.exit_code == 0
    assert human.stdout.splitlines()[0].split()[:5] == ["ID", "SOURCE", "TYPE", "ENTITY", "STATUS"]
    assert events["unmatched"] in human.stdout


def test_replay_by_status_takes_every_one_and_nudges_the_relay(
    events: dict[str, str],
    job_environment: Redis,  # noqa: F811 - the fixture imported above
) -> None:
    result = gateway("webhooks", "replay", "--status", "dead")
    assert result.exit_code == 0, result.output
    assert "replayed 2 event(s)" in result.stdout
    assert "replaying" in result.stderr, "a progress bar"
    listed = json.loads(gateway("webhooks", "list", "--json").stdout)["data"]
    statuses = {row["id"]: row["status"] for row in listed}
    assert statuses[events["dead"]] == statuses[events["dead_unmatched"]] == "received"
    assert statuses[events["unmatched"]] == "processed"
    assert rq_queue("maintenance", job_environment).fetch_job(RELAY_NUDGE_ID) is not None


def test_replay_by_id(events: dict[str, str]) -> None:
    result = gateway("webhooks", "replay", events["unmatched"], "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"replayed": 1}


def test_an_unknown_id_replays_nothing_and_exits_1(events: dict[str, str]) -> None:
    result = gateway("webhooks", "replay", events["dead"], "we_0000000000000000")
    assert result.exit_code == 1
    assert "we_0000000000000000" in result.stderr
    dead = json.loads(gateway("webhooks", "list", "--status", "dead", "--json").stdout)
    assert len(dead["data"]) == 2, "nothing changed"


@pytest.mark.parametrize(
    "arguments", [["webhooks", "replay"], ["webhooks", "replay", "we_1", "--status", "dead"]]
)
def test_replay_needs_ids_or_a_status(arguments: list[str]) -> None:
    assert gateway(*arguments).exit_code == 2
