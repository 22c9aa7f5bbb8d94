"""GET /webhooks/events and the replays (scope `webhooks:admin`): a merchant sees
and replays only events matched to its own transactions, in its mode."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.audit.models import AuditEntry
from gateway.core.clock import FrozenClock
from gateway.core.ids import new_id
from gateway.merchants.models import Merchant
from gateway.merchants.scopes import Scope
from gateway.merchants.service import MerchantService
from gateway.webhooks.models import WebhookEvent
from tests.fixtures.merchants import KeyFactory

EVENTS = "/api/v1/webhooks/events"


def stored(
    clock: FrozenClock,
    *,
    status: str = "processed",
    merchant_id: str | None = None,
    livemode: bool = False,
    age_s: int = 0,
) -> WebhookEvent:
    at = clock.now() - timedelta(seconds=age_s)
    return WebhookEvent(
        id=new_id("we"), source="simulator", notification_id=new_id("we"),
        event_type="net.authorize.payment.authcapture.created", event_date=None,
        webhook_id=None, entity_name="transaction", entity_id="60000000001",
        reference=None, response_code=1, amount=None, status=status,
        outcome="applied" if status == "processed" else None,
        attempts=5 if status == "dead" else 1,
        last_error="NotSentError: simulator outage" if status == "dead" else None,
        merchant_id=merchant_id, livemode=None if merchant_id is None else livemode,
        transaction_id=None if merchant_id is None else new_id("txn"),
        received_at=at, processed_at=None, updated_at=at, published_at=at, replays=0,
    )  # fmt: skip


@pytest.fixture
async def others(
    session_factory: async_sessionmaker[AsyncSession], clock: FrozenClock, merchant: Merchant
) -> dict[str, WebhookEvent]:
    """Events of this merchant (test and live), of another merchant, and unmatched."""
    async with session_factory() as session:
        other = await MerchantService(session, clock).create_merchant("Other Shop")
        events = {
            "mine_processed": stored(clock, merchant_id=merchant.id, age_s=30),
            "mine_dead": stored(clock, merchant_id=merchant.id, status="dead", age_s=20),
            "mine_dead_too": stored(clock, merchant_id=merchant.id, status="dead", age_s=10),
            "mine_live": stored(clock, merchant_id=merchant.id, livemode=True, status="dead"),
            "other": stored(clock, merchant_id=other.id, status="dead"),
            "unmatched": stored(clock, status="dead"),
        }
        session.add_all(events.values())
        await session.commit()
    return events


@pytest.fixture
async def admin(client: httpx.AsyncClient, make_key: KeyFactory) -> httpx.AsyncClient:
    client.headers["Authorization"] = f"Bearer {await make_key(Scope.WEBHOOKS_ADMIN)}"
    return client


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [event["id"] for event in response.json()["data"]]


async def test_a_merchant_lists_only_its_own_events_in_its_mode(
    admin: httpx.AsyncClient, others: dict[str, WebhookEvent]
) -> None:
    response = await admin.get(EVENTS)
    assert ids(response) == [
        others["mine_dead_too"].id,
        others["mine_dead"].id,
        others["mine_processed"].id,
    ], "newest first; never another merchant's, the live ones or unmatched ones"
    first = response.json()["data"][0]
    assert set(first) == {
        "id", "source", "notification_id", "event_type", "entity_id", "status",
        "outcome", "attempts", "last_error", "received_at", "processed_at",
    }  # fmt: skip
    assert (first["status"], first["last_error"]) == ("dead", "NotSentError: simulator outage")


async def test_the_list_filters_by_status_and_pages(
    admin: httpx.AsyncClient, others: dict[str, WebhookEvent]
) -> None:
    assert ids(await admin.get(EVENTS, params={"status": "processed"})) == [
        others["mine_processed"].id
    ]
    page = await admin.get(EVENTS, params={"limit": 2})
    assert len(ids(page)) == 2
    rest = await admin.get(EVENTS, params={"limit": 2, "cursor": page.json()["next_cursor"]})
    assert ids(rest) == [others["mine_processed"].id]
    assert rest.json()["next_cursor"] is None
    bad = await admin.get(EVENTS, params={"status": "lost"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "status"


@pytest.mark.parametrize(
    ("scopes", "status"),
    [((Scope.PAYMENTS_READ, Scope.PAYMENTS_WRITE), 403), ((Scope.ADMIN,), 200), ((), 200)],
)
async def test_the_routes_need_the_webhooks_admin_scope(
    client: httpx.AsyncClient, make_key: KeyFactory, scopes: tuple[Scope, ...], status: int
) -> None:
    key = await make_key(*scopes)  # no scope given: admin
    response = await client.get(EVENTS, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == status
    replay = await client.post(f"{EVENTS}/replay", headers={"Authorization": f"Bearer {key}"})
    assert replay.status_code == (403 if status == 403 else 202)
    assert (await client.get(EVENTS)).status_code == 401


async def test_replaying_one_event_queues_it_again_and_is_audited(
    admin: httpx.AsyncClient,
    others: dict[str, WebhookEvent],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    dead = others["mine_dead"]
    response = await admin.post(f"{EVENTS}/{dead.id}/replay")

    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    assert (body["id"], body["status"], body["outcome"]) == (dead.id, "received", None)
    async with session_factory() as session:
        row = await session.get(WebhookEvent, dead.id)
        assert row is not None
        assert row.published_at is None, "back in the outbox"
        assert row.replays == 1, "its job gets an id of its own"
        assert row.attempts == 5, "attempts keep counting"
        audit = (
            await session.scalars(select(AuditEntry).where(AuditEntry.object_id == dead.id))
        ).all()
    assert [entry.action for entry in audit] == ["webhook_event.replay"]


@pytest.mark.parametrize("whose", ["other", "unmatched", "mine_live"])
async def test_replaying_an_event_that_is_not_ours_is_404(
    admin: httpx.AsyncClient, others: dict[str, WebhookEvent], whose: str
) -> None:
    response = await admin.post(f"{EVENTS}/{others[whose].id}/replay")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_replaying_every_dead_event_touches_only_ours(
    admin: httpx.AsyncClient,
    others: dict[str, WebhookEvent],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    response = await admin.post(f"{EVENTS}/replay", params={"status": "dead"})

    assert response.status_code == 202, response.text
    assert response.json() == {"replayed": 2}
    async with session_factory() as session:
        statuses = {
            name: (await session.get(WebhookEvent, event.id)).status  # type: ignore[union-attr]
            for name, event in others.items()
        }
    assert statuses == {
        "mine_processed": "processed",
        "mine_dead": "received",
        "mine_dead_too": "received",
        "mine_live": "dead",
        "other": "dead",
        "unmatched": "dead",
    }
    again = await admin.post(f"{EVENTS}/replay", params={"status": "dead"})
    assert again.json() == {"replayed": 0}
    bad = await admin.post(f"{EVENTS}/replay", params={"status": "processed"})
    assert bad.status_code == 400
