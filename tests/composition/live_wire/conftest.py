"""The gateway configured for Authorize.Net at the session's `gateway sandbox serve`."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from gateway.core.clock import FrozenClock
from gateway.core.settings import Settings
from gateway.merchants.scopes import Scope
from tests.composition.live_wire import Live
from tests.fixtures.app import make_settings
from tests.fixtures.merchants import KeyFactory
from tests.fixtures.sandbox import RunningSandbox


@pytest.fixture
def clock() -> FrozenClock:
    # The sandbox keeps the wall clock; a gateway frozen in another month would
    # ask for settled batches of a span in which nothing settled.
    return FrozenClock(datetime.now(UTC))


@pytest.fixture
def settings(database_url: str, test_redis_url: str, sandbox: RunningSandbox) -> Settings:
    return make_settings(
        database_url,
        test_redis_url,
        {
            "GATEWAY_PROCESSOR": "authorize_net",
            "GATEWAY_AUTHORIZE_NET_ENVIRONMENT": sandbox.api_url,
            "GATEWAY_AUTHORIZE_NET_LOGIN_ID": sandbox.config.login_id,
            "GATEWAY_AUTHORIZE_NET_TRANSACTION_KEY": sandbox.config.transaction_key,
            "GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS": sandbox.config.signature_key,
            "GATEWAY_LIVE_CURRENCIES": "USD",
        },
    )


@pytest.fixture
async def live_key(make_key: KeyFactory) -> str:
    return await make_key(Scope.ADMIN, livemode=True)


@pytest.fixture
def live(client: httpx.AsyncClient, live_key: str) -> Live:
    return Live(client, live_key)
