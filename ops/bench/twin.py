"""`python -m ops.bench.twin --port P [--workers N]`: the gateway's bare twin, the
ceiling the load suite measures the gateway against.

Litestar on granian (the gateway's framework and server) with raw asyncpg and
nothing else: every `POST /api/v1/payments/{operation}` runs the purchase-shaped
transaction (an idempotency row holding the answer, a transaction row and an
event row, in one commit; a key seen before answers its stored body, 200 with
`Idempotent-Replayed: true`), and `POST /api/v1/webhooks/{source}` verifies an
Authorize.Net signature over the raw body and stores the notification once. No
validation beyond the amount, no processor, no outbox, no logging: what is left
is the framework, the server, the driver and PostgreSQL.

Settings come from the environment (the workers import the app themselves):
TWIN_DSN (a scratch database of its own; the tables are created at start),
TWIN_API_KEY (the bearer token it accepts), TWIN_SIGNATURE_KEY (the webhook key).
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import click
import msgspec
from granian.constants import HTTPModes, Interfaces
from granian.log import LogLevels
from granian.server.mp import MPServer
from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State

from gateway.webhooks.signature import HEADER, verify

SCHEMA = """
CREATE TABLE IF NOT EXISTS twin_idempotency (
    key text PRIMARY KEY, status int NOT NULL, body bytea NOT NULL, created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS twin_transactions (
    id text PRIMARY KEY, kind text NOT NULL, amount bigint NOT NULL, currency text NOT NULL,
    status text NOT NULL, created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS twin_events (
    id text PRIMARY KEY, transaction_id text NOT NULL, to_status text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS twin_webhooks (
    notification_id text PRIMARY KEY, body bytea NOT NULL, received_at timestamptz NOT NULL
);
"""
POOL_SIZE = 10


class _Amount(msgspec.Struct):
    amount: int = 0
    currency: str = "USD"


_DECODE = msgspec.json.Decoder(_Amount)
_NOTIFICATION = msgspec.json.Decoder(dict[str, object])
_ENCODE = msgspec.json.Encoder()
_UNAUTHORIZED = Response(b'{"code":"unauthorized"}', status_code=401, media_type="application/json")


def _authorized(request: Request[object, object, State]) -> bool:
    given = request.headers.get("authorization", "")
    wanted: str = request.app.state.bearer
    return hmac.compare_digest(given.encode(), wanted.encode())


@post("/api/v1/payments/{operation:str}", status_code=201)
async def payment(request: Request[object, object, State], operation: str) -> Response[bytes]:
    if not _authorized(request):
        return _UNAUTHORIZED
    key = request.headers.get("idempotency-key")
    if not key:
        return Response(b'{"code":"idempotency_key_required"}', status_code=400)
    try:
        data = _DECODE.decode(await request.body())
    except msgspec.DecodeError:
        return Response(b'{"code":"validation_error"}', status_code=400)
    transaction_id = "txn_" + secrets.token_hex(10)
    body = _ENCODE.encode(
        {"id": transaction_id, "type": operation, "status": "captured", "amount": data.amount}
    )
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as connection, connection.transaction():
        fresh = await connection.fetchval(
            "INSERT INTO twin_idempotency (key, status, body, created_at)"
            " VALUES ($1, 201, $2, now()) ON CONFLICT DO NOTHING RETURNING true",
            key,
            body,
        )
        if not fresh:
            stored = await connection.fetchrow(
                "SELECT body FROM twin_idempotency WHERE key = $1", key
            )
            return Response(
                bytes(stored["body"]),
                status_code=200,
                media_type="application/json",
                headers={"Idempotent-Replayed": "true"},
            )
        await connection.execute(
            "INSERT INTO twin_transactions (id, kind, amount, currency, status, created_at)"
            " VALUES ($1, $2, $3, $4, 'captured', now())",
            transaction_id,
            operation,
            data.amount,
            data.currency,
        )
        await connection.execute(
            "INSERT INTO twin_events (id, transaction_id, to_status, created_at)"
            " VALUES ($1, $2, 'captured', now())",
            "evt_" + secrets.token_hex(10),
            transaction_id,
        )
    return Response(body, status_code=201, media_type="application/json")


@post("/api/v1/webhooks/{source:str}", status_code=200)
async def webhook(request: Request[object, object, State], source: str) -> Response[bytes]:
    raw = await request.body()
    if not verify(raw, request.headers.get(HEADER), (request.app.state.signature_key,)):
        return Response(b'{"code":"invalid_signature"}', status_code=401)
    notification_id = str(_NOTIFICATION.decode(raw).get("notificationId", ""))
    pool: asyncpg.Pool = request.app.state.pool
    stored = await pool.fetchval(
        "INSERT INTO twin_webhooks (notification_id, body, received_at) VALUES ($1, $2, now())"
        " ON CONFLICT DO NOTHING RETURNING true",
        f"{source}:{notification_id}",
        raw,
    )
    answer = {"id": notification_id, "duplicate": not stored}
    return Response(_ENCODE.encode(answer), status_code=200, media_type="application/json")


@get("/api/v1/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


async def create_schema(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(SCHEMA)
    finally:
        await connection.close()


def app_from_environment() -> Litestar:
    dsn = os.environ["TWIN_DSN"]

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(dsn, min_size=2, max_size=POOL_SIZE)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = Litestar([payment, webhook, live], lifespan=[lifespan], openapi_config=None)
    app.state.bearer = f"Bearer {os.environ['TWIN_API_KEY']}"
    app.state.signature_key = os.environ["TWIN_SIGNATURE_KEY"]
    return app


@click.command()
@click.option("--port", type=int, required=True)
@click.option("--workers", default=1, show_default=True)
def main(port: int, workers: int) -> None:
    """Serve the twin on 127.0.0.1:PORT (TWIN_DSN, TWIN_API_KEY, TWIN_SIGNATURE_KEY)."""
    MPServer(
        "ops.bench.twin:app_from_environment",
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        factory=True,
        workers=workers,
        http=HTTPModes.http1,
        websockets=False,
        log_level=LogLevels.warning,
    ).serve()


if __name__ == "__main__":
    main()
