"""`python -m ops.bench.console [--payments 100000]`: how long every console page
takes on a database the size of a busy gateway's (goal: under 200 ms each).

On a database and a Redis of its own (ops/chaos/servers.py), it bulk inserts N
captured purchases spread over many merchants (every tenth refunded, with its
events), inbound events and an endpoint with deliveries; then it serves the app
in this process, signs in an admin operator through the login form, and GETs
every page R times, printing p50 and p95 per page and marking those over the
goal. The figures are printed, never asserted (speed is not a test here).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import secrets
import statistics
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import httpx
from sqlalchemy import insert

from gateway.app import create_app
from gateway.audit.models import Event
from gateway.composition.process import api_resources
from gateway.console.service import OperatorService, Role
from gateway.core.clock import SystemClock
from gateway.core.crypto import generate_key
from gateway.core.ids import new_id
from gateway.core.settings import Settings, load_settings
from gateway.merchants.service import MerchantService
from gateway.payments.models import Transaction
from gateway.webhooks.models import WebhookEvent
from gateway.webhooks.outbound.models import WebhookDelivery, WebhookEndpoint
from ops.chaos.servers import RedisServer, chaos_database

GOAL_MS = 200.0
CHUNK = 5_000
MERCHANTS = 50
EMAIL, PASSWORD = "bench@gateway.local", "bench operator password"
_TOKEN = re.compile(r'name="_csrf_token" value="([^"]+)"')


def environment(database_url: str, redis_url: str, run_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "GATEWAY_ENV": "test",
        "GATEWAY_DATA_DIR": str(run_dir),
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_LOG_JSON": "true",
        "GATEWAY_ENCRYPTION_KEYS": generate_key(),
        "GATEWAY_FINGERPRINT_KEY": os.urandom(32).hex(),
        "GATEWAY_BLIND_INDEX_KEY": os.urandom(32).hex(),
        "GATEWAY_CONSOLE_SECRET": secrets.token_urlsafe(40),
        "GATEWAY_SIMULATOR_WEBHOOK_URL": "",
    }


def _rows(merchant_ids: list[str], n: int) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each purchase (and every tenth one's refund) with its events."""
    now = SystemClock().now()
    for index in range(n):
        merchant_id = merchant_ids[index % len(merchant_ids)]
        created = now - timedelta(seconds=n - index)
        parent = {
            "id": new_id("txn"), "merchant_id": merchant_id, "livemode": index % 7 == 0,
            "type": "purchase", "status": "captured", "amount": 1500 + index % 900,
            "currency": "USD", "amount_captured": 1500 + index % 900, "amount_refunded": 0,
            "order_id": f"order-{index}", "customer_id": f"cus_{index % 5000}",
            "card_brand": "visa", "card_last4": f"{index % 10000:04d}", "card_exp_month": 12,
            "card_exp_year": 2030, "processor": "simulator", "metadata_": {},
            "created_at": created, "updated_at": created,
        }  # fmt: skip
        events = [_event(parent, 1, None, "pending"), _event(parent, 2, "pending", "captured")]
        rows = [(parent, events)]
        if index % 10 == 0:
            refund = {
                **parent, "id": new_id("txn"), "type": "refund", "status": "succeeded",
                "parent_id": parent["id"], "order_id": None, "amount_captured": 0,
            }  # fmt: skip
            rows.append((refund, [_event(refund, 1, None, "pending")]))
        yield from rows


def _event(row: dict[str, Any], sequence: int, before: str | None, after: str) -> dict[str, Any]:
    return {
        "id": new_id("evt"), "merchant_id": row["merchant_id"], "livemode": row["livemode"],
        "object_type": "transaction", "object_id": row["id"], "sequence": sequence,
        "from_status": before, "to_status": after, "actor": "api", "request_id": None,
        "created_at": row["created_at"], "published_at": row["created_at"], "suppressed": False,
    }  # fmt: skip


async def seed(settings: Settings, n: int) -> tuple[str, str]:
    """N purchases over MERCHANTS merchants, inbound events, deliveries, an admin
    operator; a payment id and a merchant id to open."""
    resources = api_resources(settings)
    clock = SystemClock()
    try:
        async with resources.session_factory() as session:
            merchants = MerchantService(session, clock)
            ids = [(await merchants.create_merchant(f"Bench {i}")).id for i in range(MERCHANTS)]
            await OperatorService(session, clock).create(EMAIL, Role.ADMIN, PASSWORD)
            await session.commit()
        rows = _rows(ids, n)
        first = None
        while chunk := list(itertools.islice(rows, CHUNK)):
            first = first or chunk[0][0]["id"]
            async with resources.session_factory() as session:
                await session.execute(insert(Transaction), [row for row, _ in chunk])
                await session.execute(insert(Event), [e for _, events in chunk for e in events])
                await session.commit()
        await _webhooks(settings, resources.session_factory, ids[0], min(n, 20_000))
        assert first is not None
        return first, ids[0]
    finally:
        await resources.aclose()


async def _webhooks(settings: Settings, sessions: Any, merchant_id: str, n: int) -> None:
    now = SystemClock().now()
    endpoint_id = new_id("wep")
    async with sessions() as session:
        session.add(
            WebhookEndpoint(
                id=endpoint_id, merchant_id=merchant_id, livemode=False,
                url="https://hooks.example.test/", events=["*"], secret_encrypted="unused",  # noqa: S106 - this endpoint is never sent to
                created_at=now, updated_at=now,
            )
        )  # fmt: skip
        await session.flush()
        statuses = ["processed", "processed", "processed", "failed", "dead"]
        await session.execute(
            insert(WebhookEvent),
            [
                {
                    "id": new_id("we"),
                    "source": "simulator",
                    "notification_id": f"n-{i}",
                    "event_type": "net.authorize.payment.authcapture.created",
                    "status": statuses[i % 5],
                    "attempts": 1,
                    "received_at": now,
                    "updated_at": now,
                    "replays": 0,
                }
                for i in range(n)
            ],
        )
        await session.execute(
            insert(WebhookDelivery),
            [
                {
                    "id": new_id("whd"),
                    "merchant_id": merchant_id,
                    "livemode": False,
                    "endpoint_id": endpoint_id,
                    "event_id": new_id("evt"),
                    "event_type": "payment.captured",
                    "object_type": "transaction",
                    "object_id": new_id("txn"),
                    "sequence": 1,
                    "status": ["succeeded", "failed", "dead"][i % 3],
                    "attempts": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(n)
            ],
        )
        await session.commit()


async def time_pages(settings: Settings, payment_id: str, merchant_id: str, repeat: int) -> None:
    app = create_app(settings)
    pages = [
        "/console/payments",
        "/console/payments?mode=live",
        "/console/payments?q=order-4242",
        "/console/payments?last4=0042",
        "/console/payments?status=captured&date_from=2000-01-01",
        f"/console/payments/{payment_id}",
        "/console/subscriptions",
        "/console/webhooks/inbound",
        "/console/webhooks/inbound?status=dead",
        "/console/webhooks/outbound?status=dead",
        "/console/operations",
        "/console/merchants",
        f"/console/merchants/{merchant_id}",
    ]
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            login = await client.get("/console/login")
            token = _TOKEN.search(login.text)
            assert token is not None
            signed = await client.post(
                "/console/login",
                data={"email": EMAIL, "password": PASSWORD, "_csrf_token": token[1]},
            )
            assert signed.status_code == 303, signed.text
            click.echo(f"{'page':58} {'p50 ms':>8} {'p95 ms':>8}")
            for path in pages:
                timings = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    answer = await client.get(path)
                    timings.append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 200, (path, answer.status_code)
                p50 = statistics.median(timings)
                p95 = statistics.quantiles(timings, n=20)[-1] if len(timings) > 1 else p50
                flag = "  over the goal" if p95 > GOAL_MS else ""
                click.echo(f"{path[:58]:58} {p50:8.1f} {p95:8.1f}{flag}")


@click.command()
@click.option("--payments", "n", default=100_000, show_default=True, help="Purchases to insert.")
@click.option("--repeat", default=20, show_default=True, help="GETs of each page.")
@click.option("--database-url", default=None, help="A server to make the run's database on.")
@click.option("--keep", is_flag=True, help="Keep the run's database afterwards.")
def main(n: int, repeat: int, database_url: str | None, keep: bool) -> None:
    run_dir = (Path(".gateway-data") / "bench" / time.strftime("%Y%m%d-%H%M%S")).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    redis_server = RedisServer(run_dir / "redis")
    redis_server.start()
    try:
        with chaos_database(database_url, Path(".gateway-data"), keep=keep) as database:
            settings = load_settings(environment(database.url, redis_server.url, run_dir))
            click.echo(f"seeding {n} purchases in {database.name}...", err=True)
            payment_id, merchant_id = asyncio.run(seed(settings, n))
            asyncio.run(time_pages(settings, payment_id, merchant_id, repeat))
    finally:
        redis_server.kill()


if __name__ == "__main__":
    main()
