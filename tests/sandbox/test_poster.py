"""The sandbox's webhook poster: Authorize.Net's body and signature, its retry
schedule, and delivery state kept in the sandbox's own database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from gateway.composition.sandbox import open_sandbox
from gateway.core.clock import FrozenClock
from gateway.processors.authorize_net import build
from gateway.processors.authorize_net.messages import CreateTransactionResponse
from gateway.processors.authorize_net.wire import decode, encode
from gateway.sandbox.config import sandbox_config
from gateway.sandbox.poster import ATTEMPTS_MAX, WebhookPoster, deliveries, next_attempt
from gateway.webhooks.signature import HEADER, verify
from tests.fixtures.sandbox import RunningSandbox, sandbox_settings
from tests.sandbox.support import USD, charge

KEY = "C" * 128
RECEIVER = "http://gateway.test/api/v1/webhooks/authorize-net"


def test_the_retry_schedule_is_authorize_nets() -> None:
    failed_at = datetime(2026, 12, 1, tzinfo=UTC)
    delays = [next_attempt(attempts, failed_at) for attempts in range(1, ATTEMPTS_MAX + 1)]
    assert ATTEMPTS_MAX == 10
    assert [delay - failed_at for delay in delays[:-1] if delay is not None] == [
        *[timedelta(minutes=3)] * 2,
        *[timedelta(hours=8)] * 3,
        *[timedelta(hours=48)] * 4,
    ]
    assert delays[-1] is None


async def test_a_charge_is_posted_signed_and_retried_until_accepted(
    sandbox: RunningSandbox,
) -> None:
    settings = sandbox_settings(
        sandbox.config.database_url,
        GATEWAY_SANDBOX_WEBHOOK_URL=RECEIVER,
        GATEWAY_SANDBOX_SIGNATURE_KEY=KEY,
        GATEWAY_SANDBOX_LOGIN_ID=sandbox.config.login_id,
        GATEWAY_SANDBOX_TRANSACTION_KEY=sandbox.config.transaction_key,
    )
    clock = FrozenClock(datetime.now(UTC))
    received: list[httpx.Request] = []
    statuses = [500, 200]

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(statuses[len(received) - 1])

    async with (
        open_sandbox(settings, sandbox_config(settings), clock=clock) as process,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=process.app), base_url="http://sb"
        ) as http,
        httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as posting,
    ):
        made = charge()
        body = encode(build.charge(sandbox.auth, made, capture=True, accepted_currencies=USD))
        answer = decode(
            (await http.post("/xml/v1/request.api", content=body)).content,
            CreateTransactionResponse,
        )
        assert answer.transaction_response is not None
        trans_id = answer.transaction_response.trans_id
        sessions = async_sessionmaker(process.engine, expire_on_commit=False)
        poster = WebhookPoster(sessions, clock, url=RECEIVER, key=KEY, client=posting)

        assert await poster.post_due() == 1  # refused with a 500
        async with sessions() as session:
            (state,) = (await session.execute(select(deliveries))).all()
        assert state.attempts == 1
        assert state.next_attempt_at == clock.now() + timedelta(minutes=3)
        assert await poster.post_due() == 0  # not due yet
        clock.advance(timedelta(minutes=3))
        assert await poster.post_due() == 1  # accepted
        clock.advance(timedelta(days=30))
        assert await poster.post_due() == 0  # delivered: never again

    first, second = received
    assert first.content == second.content
    assert str(first.url) == RECEIVER
    assert verify(first.content, first.headers[HEADER], [KEY])
    posted = json.loads(first.content)
    assert posted["eventType"] == "net.authorize.payment.authcapture.created"
    assert posted["payload"]["id"] == trans_id
    assert posted["payload"]["merchantReferenceId"] == made.reference
    assert posted["payload"]["invoiceNumber"] == made.reference
