"""/webhook-endpoints and /webhook-deliveries over HTTP (API.md "Webhooks /
Outbound"): the contract's fields and codes, scope `webhooks:admin`, one
merchant in one mode, no Idempotency-Key, an audit row per mutation and the
secret shown only on creation and rotation."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

import httpx
import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.app import create_app
from gateway.audit.models import AuditEntry
from gateway.composition.resources import Resources
from gateway.core.clock import FrozenClock
from gateway.core.settings import Settings
from gateway.merchants.models import Merchant
from gateway.merchants.scopes import Scope
from gateway.merchants.service import MerchantService
from gateway.webhooks.outbound.models import WebhookDelivery
from gateway.webhooks.outbound.signing import SECRET_BYTES, secret_key
from tests.fixtures.merchants import KeyFactory
from tests.support import http_client
from tests.webhooks.outbound.conftest import DeliveryFactory

ENDPOINTS = "/api/v1/webhook-endpoints"
DELIVERIES = "/api/v1/webhook-deliveries"
URL = "http://127.0.0.1:9/hooks"
ENDPOINT_FIELDS = {
    "id", "url", "events", "description", "disabled", "disabled_reason", "created_at", "livemode",
}  # fmt: skip


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def headers(make_key: KeyFactory) -> dict[str, str]:
    return bearer(await make_key(Scope.WEBHOOKS_ADMIN))


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], **body: object
) -> dict[str, object]:
    response = await client.post(
        ENDPOINTS, json={"url": URL, "events": ["*"], **body}, headers=headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


async def test_creation_answers_201_with_the_secret_once(
    client: httpx.AsyncClient, headers: dict[str, str], clock: FrozenClock
) -> None:
    response = await client.post(
        ENDPOINTS,
        json={"url": URL, "events": ["payment.captured", "payment.refunded"], "description": "x"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == ENDPOINT_FIELDS | {"secret"}
    assert body["id"].startswith("wep_")
    assert len(body["id"]) == 20
    assert body["events"] == ["payment.captured", "payment.refunded"]
    assert (body["disabled"], body["disabled_reason"]) == (False, None)
    assert body["livemode"] is False
    assert body["created_at"] == clock.now().isoformat().replace("+00:00", "Z")
    assert len(secret_key(body["secret"])) == SECRET_BYTES
    for path in (f"{ENDPOINTS}/{body['id']}", ENDPOINTS):
        again = await client.get(path, headers=headers)
        assert again.status_code == 200
        assert body["secret"] not in again.text
    fetched = (await client.get(f"{ENDPOINTS}/{body['id']}", headers=headers)).json()
    assert set(fetched) == ENDPOINT_FIELDS


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": URL, "events": ["*"], "secret": "whsec_x"}, "secret"),
        ({"url": URL, "events": []}, "events"),
        ({"url": URL, "events": ["payment.captured", "payment.teleported"]}, "events.1"),
        ({"url": URL, "events": ["*", "payment.captured"]}, "events"),
        ({"url": URL, "events": "payment.captured"}, "events"),
        ({"url": "ftp://127.0.0.1/x", "events": ["*"]}, "url"),
        ({"url": URL, "events": ["*"], "description": "card 4111 1111 1111 1111"}, "description"),
    ],
)
async def test_a_bad_body_is_a_400_naming_the_field(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, object], field: str
) -> None:
    response = await client.post(ENDPOINTS, json=body, headers=headers)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert [error["field"] for error in problem["errors"]] == [field]
    assert "4111" not in response.text


async def test_scope_webhooks_admin_is_required(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    without = bearer(await make_key(Scope.PAYMENTS_WRITE, Scope.PAYMENTS_READ))
    calls = [
        client.post(ENDPOINTS, json={"url": URL, "events": ["*"]}, headers=without),
        client.get(ENDPOINTS, headers=without),
        client.post(f"{DELIVERIES}/whd_0000000000000000/retry", headers=without),
    ]
    for call in calls:
        assert (await call).json()["code"] == "forbidden"
    anonymous = await client.get(ENDPOINTS)
    assert anonymous.status_code == 401
    assert (
        await client.get(ENDPOINTS, headers=bearer(await make_key(Scope.ADMIN)))
    ).status_code == 200


async def test_no_idempotency_key_is_asked_for(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    created = await create(client, headers)
    rotated = await client.post(f"{ENDPOINTS}/{created['id']}/rotate-secret", headers=headers)
    assert rotated.status_code == 200


@pytest.fixture
async def strangers(
    db_session: AsyncSession, clock: FrozenClock, make_key: KeyFactory
) -> list[dict[str, str]]:
    """Keys that must not see the merchant's test-mode objects: its own live key,
    and another merchant's test key."""
    other = await MerchantService(db_session, clock).create_merchant("Other Shop")
    await db_session.commit()
    return [
        bearer(await make_key(Scope.WEBHOOKS_ADMIN, livemode=True)),
        bearer(await make_key(Scope.WEBHOOKS_ADMIN, merchant_id=other.id)),
    ]


async def test_another_merchants_or_modes_objects_answer_404_on_every_route(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    strangers: list[dict[str, str]],
    merchant: Merchant,
    add_delivery: DeliveryFactory,
    clock: FrozenClock,
) -> None:
    endpoint = await create(client, headers)
    endpoint_id = str(endpoint["id"])
    delivery = await add_delivery(endpoint_id, merchant.id, status="dead")
    path = f"{ENDPOINTS}/{endpoint_id}"
    since = (clock.now() - timedelta(hours=1)).isoformat()
    for stranger in strangers:
        answers = [
            await client.get(path, headers=stranger),
            await client.patch(path, json={"description": "mine"}, headers=stranger),
            await client.post(f"{path}/rotate-secret", headers=stranger),
            await client.get(f"{path}/deliveries", headers=stranger),
            await client.post(f"{path}/recover", json={"since": since}, headers=stranger),
            await client.post(f"{DELIVERIES}/{delivery.id}/retry", headers=stranger),
            await client.delete(path, headers=stranger),
        ]
        assert [a.status_code for a in answers] == [404] * len(answers)
        assert {a.json()["code"] for a in answers} == {"not_found"}
        listed = await client.get(ENDPOINTS, headers=stranger)
        assert listed.json()["data"] == []
    owned = await client.get(f"{path}/deliveries", headers=headers)
    assert [row["id"] for row in owned.json()["data"]] == [delivery.id]
    assert (await client.get(path, headers=headers)).json()["description"] is None


async def test_the_list_is_paged_newest_first(
    client: httpx.AsyncClient, headers: dict[str, str], clock: FrozenClock
) -> None:
    made = []
    for _ in range(3):
        made.append((await create(client, headers))["id"])
        clock.advance(timedelta(seconds=1))
    first = (await client.get(ENDPOINTS, params={"limit": 2}, headers=headers)).json()
    assert [row["id"] for row in first["data"]] == [made[2], made[1]]
    rest = await client.get(
        ENDPOINTS, params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
    )
    assert [row["id"] for row in rest.json()["data"]] == [made[0]]
    assert rest.json()["next_cursor"] is None


async def test_patch_changes_only_what_it_names_and_disabling_is_the_merchants(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    endpoint = await create(client, headers, description="orders")
    path = f"{ENDPOINTS}/{endpoint['id']}"
    events = await client.patch(path, json={"events": ["subscription.renewed"]}, headers=headers)
    assert events.status_code == 200, events.text
    assert events.json()["events"] == ["subscription.renewed"]
    assert events.json()["description"] == "orders"
    disabled = (await client.patch(path, json={"disabled": True}, headers=headers)).json()
    assert disabled["disabled"] is True
    assert disabled["disabled_reason"] == "disabled by the merchant"
    enabled = (await client.patch(path, json={"disabled": False}, headers=headers)).json()
    assert (enabled["disabled"], enabled["disabled_reason"]) == (False, None)
    cleared = (await client.patch(path, json={"description": None}, headers=headers)).json()
    assert cleared["description"] is None
    bad = await client.patch(path, json={"url": "gopher://127.0.0.1"}, headers=headers)
    assert bad.status_code == 400
    unknown = await client.patch(path, json={"secret": "whsec_x"}, headers=headers)
    assert unknown.json()["errors"][0]["field"] == "secret"
    assert "secret" not in enabled


async def test_delete_answers_204_and_takes_the_deliveries_with_it(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    merchant: Merchant,
    add_delivery: DeliveryFactory,
    db_session: AsyncSession,
) -> None:
    endpoint = await create(client, headers)
    await add_delivery(str(endpoint["id"]), merchant.id)
    path = f"{ENDPOINTS}/{endpoint['id']}"
    assert (await client.delete(path, headers=headers)).status_code == 204
    assert (await client.get(path, headers=headers)).status_code == 404
    left = await db_session.scalar(
        select(func.count()).where(WebhookDelivery.endpoint_id == endpoint["id"])
    )
    assert left == 0


async def test_rotation_shows_a_new_secret_and_every_mutation_is_audited_without_it(
    client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
) -> None:
    endpoint = await create(client, headers)
    path = f"{ENDPOINTS}/{endpoint['id']}"
    rotated = await client.post(f"{path}/rotate-secret", headers=headers)
    assert rotated.status_code == 200
    assert set(rotated.json()) == ENDPOINT_FIELDS | {"secret"}
    assert rotated.json()["secret"] != endpoint["secret"]
    await client.patch(path, json={"disabled": True}, headers=headers)
    await client.delete(path, headers=headers)
    rows = (
        await db_session.scalars(
            select(AuditEntry)
            .where(AuditEntry.object_id == endpoint["id"])
            .order_by(AuditEntry.created_at, AuditEntry.id)
        )
    ).all()
    assert [row.action for row in rows] == [
        "webhook_endpoint.create",
        "webhook_endpoint.rotate_secret",
        "webhook_endpoint.update",
        "webhook_endpoint.delete",
    ]
    assert {row.object_type for row in rows} == {"webhook_endpoint"}
    stored = msgspec.json.encode([row.details for row in rows]).decode()
    for secret in (endpoint["secret"], rotated.json()["secret"]):
        assert str(secret).removeprefix("whsec_") not in stored


async def test_the_secret_never_reaches_a_log_line(
    client: httpx.AsyncClient, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    endpoint = await create(client, headers)
    rotated = await client.post(f"{ENDPOINTS}/{endpoint['id']}/rotate-secret", headers=headers)
    logged = caplog.text
    for secret in (endpoint["secret"], rotated.json()["secret"]):
        assert str(secret).removeprefix("whsec_") not in logged


async def test_deliveries_are_listed_with_their_filters(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    merchant: Merchant,
    add_delivery: DeliveryFactory,
    clock: FrozenClock,
) -> None:
    endpoint_id = str((await create(client, headers))["id"])
    now = clock.now()
    old_dead = await add_delivery(
        endpoint_id, merchant.id, status="dead", created_at=now - timedelta(days=2)
    )
    failed = await add_delivery(
        endpoint_id, merchant.id, status="failed", created_at=now - timedelta(hours=1),
        event_type="subscription.renewed",
    )  # fmt: skip
    done = await add_delivery(endpoint_id, merchant.id, status="succeeded", created_at=now)
    path = f"{ENDPOINTS}/{endpoint_id}/deliveries"

    async def listed(**params: str) -> list[str]:
        response = await client.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [row["id"] for row in response.json()["data"]]

    assert await listed() == [done.id, failed.id, old_dead.id]
    assert await listed(status="dead") == [old_dead.id]
    assert await listed(event_type="subscription.renewed") == [failed.id]
    since = (now - timedelta(days=1)).isoformat()
    assert await listed(created_gte=since) == [done.id, failed.id]
    assert await listed(created_lt=since) == [old_dead.id]
    row = (await client.get(path, params={"status": "failed"}, headers=headers)).json()["data"][0]
    assert set(row) >= {
        "id", "event_id", "event_type", "status", "attempts", "next_attempt_at",
        "last_status_code", "last_error", "created_at", "delivered_at",
    }  # fmt: skip
    for params in ({"status": "lost"}, {"created_gte": "yesterday"}, {"limit": "0"}):
        bad = await client.get(path, params=params, headers=headers)
        assert bad.status_code == 400, params
        assert bad.json()["code"] == "validation_error"


async def test_retry_makes_a_delivery_due_now_unless_an_attempt_is_in_flight(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    merchant: Merchant,
    add_delivery: DeliveryFactory,
    clock: FrozenClock,
) -> None:
    endpoint_id = str((await create(client, headers))["id"])
    dead = await add_delivery(endpoint_id, merchant.id, status="dead", attempts=10)
    clock.advance(timedelta(minutes=5))
    retried = await client.post(f"{DELIVERIES}/{dead.id}/retry", headers=headers)
    assert retried.status_code == 202, retried.text
    body = retried.json()
    assert (body["status"], body["attempts"]) == ("pending", 10)
    assert body["next_attempt_at"] == clock.now().isoformat().replace("+00:00", "Z")
    busy = await add_delivery(
        endpoint_id, merchant.id, status="failed", leased_until=clock.now() + timedelta(seconds=30)
    )
    conflict = await client.post(f"{DELIVERIES}/{busy.id}/retry", headers=headers)
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "invalid_state"
    missing = await client.post(f"{DELIVERIES}/whd_0000000000000000/retry", headers=headers)
    assert missing.status_code == 404


async def test_recover_requeues_failed_and_dead_deliveries_of_the_window(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    merchant: Merchant,
    add_delivery: DeliveryFactory,
    clock: FrozenClock,
) -> None:
    endpoint_id = str((await create(client, headers))["id"])
    now = clock.now()
    before = await add_delivery(
        endpoint_id, merchant.id, status="dead", created_at=now - timedelta(days=3)
    )
    inside = [
        await add_delivery(
            endpoint_id, merchant.id, status=status, created_at=now - timedelta(hours=h)
        )
        for status, h in (("dead", 5), ("failed", 4), ("succeeded", 3), ("pending", 2))
    ]
    path = f"{ENDPOINTS}/{endpoint_id}/recover"
    window = {"since": (now - timedelta(days=1)).isoformat()}
    answer = await client.post(path, json=window, headers=headers)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"recovered": 2}
    listed = await client.get(f"{ENDPOINTS}/{endpoint_id}/deliveries", headers=headers)
    statuses = {row["id"]: row["status"] for row in listed.json()["data"]}
    assert statuses[before.id] == "dead"
    assert [statuses[row.id] for row in inside] == ["pending", "pending", "succeeded", "pending"]
    backwards = {"since": now.isoformat(), "until": (now - timedelta(hours=1)).isoformat()}
    refused = await client.post(path, json=backwards, headers=headers)
    assert refused.status_code == 400
    assert refused.json()["code"] == "validation_error"


# -- the SSRF guard in production, through an injected resolver -------------


class FakeDns:
    """Answers every name with the addresses given, and notes what was asked."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = list(addresses)
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append((host, port))
        return self.addresses


@contextlib.asynccontextmanager
async def production_api(
    settings: Settings, resources: Resources, dns: FakeDns
) -> AsyncIterator[httpx.AsyncClient]:
    replace = msgspec.structs.replace
    production = replace(settings, core=replace(settings.core, env="production"))
    app = create_app(production, resources=dataclasses.replace(resources, resolver=dns))
    async with http_client(app) as client:
        yield client


@pytest.mark.parametrize(
    ("url", "addresses"),
    [
        ("http://hooks.example.com/in", ["93.184.216.34"]),
        ("https://hooks.example.com/in", ["10.0.0.7"]),
        ("https://hooks.example.com/in", ["93.184.216.34", "127.0.0.1"]),
        ("https://hooks.example.com/in", ["169.254.169.254"]),
        ("https://hooks.example.com/in", ["::1"]),
        ("https://hooks.example.com/in", ["::ffff:10.1.2.3"]),
        ("https://127.0.0.1/in", ["127.0.0.1"]),
    ],
)
async def test_production_refuses_plain_http_and_non_public_addresses(
    settings: Settings,
    resources: Resources,
    headers: dict[str, str],
    url: str,
    addresses: list[str],
) -> None:
    async with production_api(settings, resources, FakeDns(*addresses)) as client:
        response = await client.post(ENDPOINTS, json={"url": url, "events": ["*"]}, headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["field"] == "url"
        listed = await client.get(ENDPOINTS, headers=headers)
        assert listed.json()["data"] == []


async def test_production_accepts_a_public_https_destination_and_rechecks_a_new_url(
    settings: Settings, resources: Resources, headers: dict[str, str]
) -> None:
    dns = FakeDns("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946")
    async with production_api(settings, resources, dns) as client:
        endpoint = await create(client, headers, url="https://hooks.example.com/in")
        assert dns.asked == [("hooks.example.com", 443)]
        dns.addresses = ["192.168.1.20"]
        path = f"{ENDPOINTS}/{endpoint['id']}"
        moved = await client.patch(
            path, json={"url": "https://intra.example.com:8443/"}, headers=headers
        )
        assert moved.status_code == 400
        assert dns.asked[-1] == ("intra.example.com", 8443)
        assert (await client.get(path, headers=headers)).json()[
            "url"
        ] == "https://hooks.example.com/in"


async def test_every_route_is_in_the_openapi_document_with_its_answers(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    paths = document["paths"]
    expected = {
        (ENDPOINTS, "post"): {"201", "400"},
        (ENDPOINTS, "get"): {"200"},
        (f"{ENDPOINTS}/{{endpoint_id}}", "get"): {"200", "404"},
        (f"{ENDPOINTS}/{{endpoint_id}}", "patch"): {"200", "400", "404"},
        (f"{ENDPOINTS}/{{endpoint_id}}", "delete"): {"204", "404"},
        (f"{ENDPOINTS}/{{endpoint_id}}/rotate-secret", "post"): {"200", "404"},
        (f"{ENDPOINTS}/{{endpoint_id}}/deliveries", "get"): {"200", "400", "404"},
        (f"{ENDPOINTS}/{{endpoint_id}}/recover", "post"): {"202", "400", "404"},
        (f"{DELIVERIES}/{{delivery_id}}/retry", "post"): {"202", "404", "409"},
    }
    for (path, method), statuses in expected.items():
        assert statuses <= set(paths[path][method]["responses"]), (path, method)
    schemas = document["components"]["schemas"]
    assert "secret" in schemas["EndpointWithSecret"]["properties"]
    assert "secret" not in schemas["EndpointOut"]["properties"]
    assert "Idempotency-Key" not in str(paths[ENDPOINTS]["post"])
