"""The connector where no Authorize.Net-compatible server is needed: every call
to a closed port is "not sent", a currency the account does not take is a 400
before anything leaves, and Authorize.Net refusing our credentials (E00007) is
never retried but opens the breaker. (Its conversations with a server that
answers like Authorize.Net are the sandbox's tests.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from gateway.composition.processors import resilient
from gateway.core.clock import FrozenClock
from gateway.core.errors import ValidationFailed
from gateway.processors.authorize_net.connector import AuthorizeNetConnector
from gateway.processors.authorize_net.errors import AuthorizeNetUnavailableError
from gateway.processors.breaker import BreakerState, ProcessorUnavailable
from gateway.processors.port import (
    CaptureRequest,
    NotSentError,
    Processor,
    RefundRequest,
    SettlementReports,
    TokenizeRequest,
    VoidRequest,
)
from tests.fixtures.app import make_settings
from tests.processors.authorize_net.local_server import BOM, answer_with, closed_port, serving
from tests.processors.authorize_net.support import CARD, REFERENCE, charge_request

TRANS_ID = "80000000001"
TOKEN = "900000001/900000002"

E00007 = BOM + (
    b'{"messages":{"resultCode":"Error","message":[{"code":"E00007","text":"User'
    b' authentication failed due to invalid authentication values."}]}}'
)


def connector(url: str, clock: FrozenClock, **changes: Any) -> AuthorizeNetConnector:
    options: dict[str, Any] = {
        "login_id": "login1234",
        "transaction_key": "0123456789abcdef",
        "currencies": ("USD",),
        "clock": clock,
        "connect_timeout_s": 1.0,
        "read_timeout_s": 2.0,
        **changes,
    }
    return AuthorizeNetConnector(url, **options)


@pytest.fixture
async def unreachable(clock: FrozenClock) -> AsyncIterator[AuthorizeNetConnector]:
    anet = connector(f"http://127.0.0.1:{closed_port()}/xml/v1/request.api", clock)
    yield anet
    await anet.aclose()


def test_it_is_a_processor_and_reports_settlement(unreachable: AuthorizeNetConnector) -> None:
    assert isinstance(unreachable, Processor)
    assert isinstance(unreachable, SettlementReports)
    assert unreachable.name == "authorize_net"


CALLS: dict[str, Callable[[AuthorizeNetConnector], Awaitable[object]]] = {
    "authenticate": lambda anet: anet.authenticate(),
    "purchase": lambda anet: anet.purchase(charge_request()),
    "authorize": lambda anet: anet.authorize(charge_request()),
    "purchase a token": lambda anet: anet.purchase(charge_request(card=None, token=TOKEN)),
    "capture": lambda anet: anet.capture(CaptureRequest(REFERENCE, TRANS_ID, 1000, "USD")),
    "refund": lambda anet: anet.refund(RefundRequest(REFERENCE, TRANS_ID, 500, "USD", "1111")),
    "void": lambda anet: anet.void(VoidRequest(REFERENCE, TRANS_ID)),
    "get_transaction": lambda anet: anet.get_transaction(TRANS_ID),
    "find_by_reference": lambda anet: anet.find_by_reference(REFERENCE),
    "tokenize": lambda anet: anet.tokenize(TokenizeRequest("pm_01J5Z8Q4W7X2K9M3", CARD)),
    "delete_payment_method": lambda anet: anet.delete_payment_method(TOKEN),
    "settled_transactions": lambda anet: anet.settled_transactions(
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 15, tzinfo=UTC)
    ),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
async def test_every_call_to_a_closed_port_is_not_sent(
    unreachable: AuthorizeNetConnector,
    call: Callable[[AuthorizeNetConnector], Awaitable[object]],
) -> None:
    with pytest.raises(NotSentError) as refused:
        await call(unreachable)
    assert not isinstance(refused.value, AuthorizeNetUnavailableError)


CURRENCY_CALLS: dict[str, Callable[[AuthorizeNetConnector], Awaitable[object]]] = {
    "purchase": lambda anet: anet.purchase(charge_request(currency="EUR")),
    "authorize": lambda anet: anet.authorize(charge_request(currency="EUR")),
    "capture": lambda anet: anet.capture(CaptureRequest(REFERENCE, TRANS_ID, 1000, "EUR")),
    "refund": lambda anet: anet.refund(RefundRequest(REFERENCE, TRANS_ID, 500, "EUR", "1111")),
}


@pytest.mark.parametrize("call", CURRENCY_CALLS.values(), ids=CURRENCY_CALLS.keys())
async def test_a_currency_the_account_does_not_take_is_refused_before_sending(
    clock: FrozenClock, call: Callable[[AuthorizeNetConnector], Awaitable[object]]
) -> None:
    async with serving(answer_with(200, E00007)) as (url, seen):
        anet = connector(url, clock)
        try:
            with pytest.raises(ValidationFailed) as refused:
                await call(anet)
        finally:
            await anet.aclose()

    assert [error.field for error in refused.value.errors] == ["currency"]
    assert "USD" in refused.value.detail
    assert seen.requests == []


async def test_the_accepted_currencies_are_the_accounts(clock: FrozenClock) -> None:
    async with serving(answer_with(200, E00007)) as (url, seen):
        anet = connector(url, clock, currencies=("CAD",))
        try:
            with pytest.raises(ValidationFailed):
                await anet.purchase(charge_request(currency="USD"))
            assert seen.requests == []
            with pytest.raises(AuthorizeNetUnavailableError):  # CAD goes out
                await anet.purchase(charge_request(currency="CAD"))
        finally:
            await anet.aclose()
    assert len(seen.requests) == 1


async def test_refused_credentials_are_not_retried_but_open_the_breaker(
    database_url: str, test_redis_url: str, redis_client: Redis, clock: FrozenClock
) -> None:
    settings = make_settings(
        database_url,
        test_redis_url,
        {"GATEWAY_BREAKER_FAIL_MAX": "3", "GATEWAY_PROCESSOR_RETRY_DEADLINE_S": "2"},
    )
    async with serving(answer_with(200, E00007)) as (url, seen):
        anet = connector(url, clock)
        live = resilient(anet, settings, redis_client, clock)
        try:
            for attempt in range(1, 4):
                with pytest.raises(AuthorizeNetUnavailableError) as refused:
                    await live.purchase(charge_request())
                assert len(seen.requests) == attempt  # sent once: no retry can fix it
            assert refused.value.code == "E00007"
            assert await live.state() is BreakerState.OPEN
            with pytest.raises(ProcessorUnavailable):
                await live.admit()
            with pytest.raises(NotSentError):  # a job's call without a permit
                await live.get_transaction(TRANS_ID)
        finally:
            await anet.aclose()
    assert len(seen.requests) == 3


async def test_a_closed_port_is_retried_until_the_deadline_then_counts_once(
    database_url: str, test_redis_url: str, redis_client: Redis, clock: FrozenClock
) -> None:
    settings = make_settings(database_url, test_redis_url, {"GATEWAY_BREAKER_FAIL_MAX": "2"})
    anet = connector(f"http://127.0.0.1:{closed_port()}/xml/v1/request.api", clock)
    live = resilient(anet, settings, redis_client, clock)
    try:
        started = datetime.now(UTC)
        with pytest.raises(NotSentError):
            await live.purchase(charge_request())
        # Retried (safe: never sent) for the retry deadline, 0.2 s in the tests' settings.
        assert datetime.now(UTC) - started >= timedelta(seconds=0.15)
        assert await live.state() is BreakerState.CLOSED
        with pytest.raises(NotSentError):
            await live.void(VoidRequest(REFERENCE, TRANS_ID))
        assert await live.state() is BreakerState.OPEN
    finally:
        await anet.aclose()
