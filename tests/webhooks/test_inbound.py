"""POST /webhooks/{authorize-net,simulator}: verified over the raw body, stored once,
queued through the outbox, answered at once (API.md "Webhooks", issue point 1)."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import msgspec
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.app import create_app
from gateway.composition.resources import Resources
from gateway.core.settings import Settings
from gateway.webhooks.signature import sign
from tests.support import http_client, nudged
from tests.webhooks import notification
from tests.webhooks.conftest import Deliver, stored_events

OTHER_KEY = "0123456789ABCDEF" * 8


def _counted(source: str, result: str, event_type: str = "unknown") -> float:
    value = REGISTRY.get_sample_value(
        "gateway_webhooks_received_total",
        {"source": source, "event_type": event_type, "result": result},
    )
    return value or 0.0


async def test_a_signed_event_is_stored_once_and_answered_200(
    deliver: Deliver, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    body = notification("60019392075", reference="txn_06H01SH63MWTC12Z", amount="10.00")
    started = time.perf_counter()
    response = await deliver(body)
    elapsed = time.perf_counter() - started

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["duplicate"] is False
    assert answer["id"].startswith("we_")
    assert elapsed < 1.0, "answered at once; the work is a worker's"
    [event] = await stored_events(session_factory)
    assert event.id == answer["id"]
    assert event.source == "simulator"
    assert event.status == "received"
    assert event.event_type == "net.authorize.payment.authcapture.created"
    assert (event.entity_name, event.entity_id) == ("transaction", "60019392075")
    assert event.reference == "txn_06H01SH63MWTC12Z"
    assert event.response_code == 1
    # The amount decodes exactly and is stored as sent: 10.00, not 10 or 10.0.
    assert event.amount == Decimal("10.00")
    assert str(event.amount) == "10.00"
    assert event.event_date is not None
    assert event.event_date.microsecond == 123456  # seven fractional digits read
    assert event.published_at is None, "its job goes out through the outbox relay"


async def test_the_path_gives_the_source(
    deliver: Deliver, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    same_id = "3c3bd21b-27a6-4b6b-a7cc-0b53d0f5b0a1"
    await deliver(notification("1", notification_id=same_id), path="authorize-net")
    await deliver(notification("1", notification_id=same_id), path="simulator")
    events = await stored_events(session_factory)
    # One notification id per source: the two paths never collide.
    assert sorted(event.source for event in events) == ["authorize_net", "simulator"]


async def test_a_duplicate_answers_200_and_changes_nothing(
    deliver: Deliver, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    body = notification("60019392075")
    duplicates_before = _counted(
        "simulator", "duplicate", "net.authorize.payment.authcapture.created"
    )
    first = await deliver(body)
    second = await deliver(body)
    # The same notification re-serialised by a retrying sender is still a duplicate.
    again = msgspec.json.encode(msgspec.json.decode(body))
    third = await deliver(again)

    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert second.json() == {"id": first.json()["id"], "duplicate": True}
    assert third.json()["duplicate"] is True
    events = await stored_events(session_factory)
    assert [event.id for event in events] == [first.json()["id"]]
    duplicates = _counted("simulator", "duplicate", "net.authorize.payment.authcapture.created")
    assert duplicates == duplicates_before + 2


async def test_a_new_event_nudges_the_relay(deliver: Deliver, redis_client: Redis) -> None:
    response = await deliver(notification("60019392075"))
    assert response.status_code == 200
    assert await nudged(redis_client)


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(lambda body, key: sign(body + b" ", key), id="tampered body"),
        pytest.param(lambda body, key: sign(body, OTHER_KEY), id="wrong key"),
        pytest.param(lambda body, key: sign(body, key).replace("sha512", "sha256"), id="prefix"),
        pytest.param(lambda body, key: sign(body, key).split("=", 1)[1], id="no prefix"),
        pytest.param(
            lambda body, key: sign(msgspec.json.encode(msgspec.json.decode(body)), key),
            id="re-serialised JSON",
        ),
    ],
)
async def test_a_bad_signature_is_401_and_stores_nothing(
    deliver: Deliver,
    session_factory: async_sessionmaker[AsyncSession],
    signature_key: str,
    signature: object,
) -> None:
    assert callable(signature)
    body = notification("60019392075")
    before = _counted("simulator", "invalid_signature")
    response = await deliver(body, signature=signature(body, signature_key))
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "invalid_signature"
    assert await stored_events(session_factory) == []
    assert _counted("simulator", "invalid_signature") == before + 1


async def test_a_missing_signature_is_401(
    deliver: Deliver, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    response = await deliver(notification("60019392075"), unsigned=True)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_signature"
    assert await stored_events(session_factory) == []


async def test_lower_case_hex_and_prefix_are_accepted(deliver: Deliver, signature_key: str) -> None:
    body = notification("60019392075")
    response = await deliver(body, signature=sign(body, signature_key).lower())
    assert response.status_code == 200, response.text


async def test_a_rotated_key_is_still_accepted(
    settings: Settings, resources: Resources, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    current = settings.processor.authorize_net_signature_keys
    assert current
    rotated = msgspec.structs.replace(
        settings,
        processor=msgspec.structs.replace(
            settings.processor, authorize_net_signature_keys=(OTHER_KEY, current[0])
        ),
    )
    body_new, body_old = notification("1"), notification("2")
    async with http_client(create_app(rotated, resources=resources)) as client:
        by_new = await client.post(
            "/api/v1/webhooks/authorize-net",
            content=body_new,
            headers={"X-ANET-Signature": sign(body_new, OTHER_KEY)},
        )
        by_old = await client.post(
            "/api/v1/webhooks/authorize-net",
            content=body_old,
            headers={"X-ANET-Signature": sign(body_old, current[0])},
        )
    assert (by_new.status_code, by_old.status_code) == (200, 200)
    assert len(await stored_events(session_factory)) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json at all", "body"),
        (b'{"notificationId": "n-1", "eventType": ', "body"),
        (b'{"eventType": "net.authorize.payment.void.created"}', "notificationId"),
        (b'{"notificationId": 42, "eventType": "x"}', "notificationId"),
        (
            b'{"notificationId": "n", "eventType": "x", "payload": {"id": 60019392075}}',
            "payload.id",
        ),
        (b"[]", "body"),
    ],
)
async def test_a_signed_body_that_is_not_a_notification_is_400(
    deliver: Deliver,
    session_factory: async_sessionmaker[AsyncSession],
    body: bytes,
    field: str,
) -> None:
    response = await deliver(body)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert problem["errors"][0]["field"] == field
    assert await stored_events(session_factory) == []


async def test_a_body_over_64_kib_is_413_and_stores_nothing(
    client: httpx.AsyncClient,
    signature_key: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    body = notification("1")[:-2] + b',"padding":"' + b"x" * (64 * 1024) + b'"}}'
    response = await client.post(
        "/api/v1/webhooks/simulator",
        content=body,
        headers={"X-ANET-Signature": sign(body, signature_key)},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert await stored_events(session_factory) == []


async def test_no_api_key_is_needed_and_other_methods_are_refused(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/webhooks/simulator")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
