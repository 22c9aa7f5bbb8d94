"""GATEWAY_AUTHORIZE_NET_ENVIRONMENT resolved to a URL, and a test run kept on
the loopback interface whatever its settings say."""

from __future__ import annotations

import pytest

from gateway.core.clock import FrozenClock
from gateway.core.setting_types import SettingsError
from gateway.core.settings import load_settings
from gateway.processors.authorize_net.connector import AuthorizeNetConnector
from gateway.processors.authorize_net.endpoint import (
    PRODUCTION_URL,
    SANDBOX_URL,
    checked_url,
    endpoint_url,
    is_loopback,
)

LOCAL = "http://127.0.0.1:8090/xml/v1/request.api"


def test_the_environments_resolve_to_authorize_nets_endpoints() -> None:
    assert endpoint_url("sandbox") == "https://apitest.authorize.net/xml/v1/request.api"
    assert endpoint_url("production") == "https://api.authorize.net/xml/v1/request.api"
    assert endpoint_url(LOCAL) == LOCAL


@pytest.mark.parametrize(
    "url",
    [
        LOCAL,
        "http://127.8.9.10:1/xml/v1/request.api",
        "http://[::1]:8090/xml/v1/request.api",
        "http://localhost:8090/xml/v1/request.api",
        "http://LOCALHOST/xml/v1/request.api",
    ],
)
def test_loopback_urls(url: str) -> None:
    assert is_loopback(url)
    assert checked_url(url, env="test") == url


@pytest.mark.parametrize(
    "url",
    [
        SANDBOX_URL,
        PRODUCTION_URL,
        "http://10.0.0.1:8090/xml/v1/request.api",
        "http://0.0.0.0:8090/xml/v1/request.api",
        "http://127.0.0.1.nip.io/xml/v1/request.api",  # a public name that resolves to loopback
        "http://localhost.example.com/xml/v1/request.api",
    ],
)
def test_a_test_run_refuses_every_other_url(url: str) -> None:
    assert not is_loopback(url)
    with pytest.raises(SettingsError, match=r"GATEWAY_AUTHORIZE_NET_ENVIRONMENT.*loopback"):
        checked_url(url, env="test")
    assert checked_url(url, env="development") == url


@pytest.mark.parametrize("environment", ["sandbox", "production"])
def test_a_test_run_refuses_authorize_nets_own_environments(environment: str) -> None:
    with pytest.raises(SettingsError, match="loopback"):
        checked_url(environment, env="test")
    assert checked_url(environment, env="development") == endpoint_url(environment)


CREDENTIALS = {
    "GATEWAY_PROCESSOR": "authorize_net",
    "GATEWAY_AUTHORIZE_NET_LOGIN_ID": "login1234",
    "GATEWAY_AUTHORIZE_NET_TRANSACTION_KEY": "0123456789abcdef",
}


def test_a_connector_from_a_test_runs_settings_never_leaves_the_machine(
    clock: FrozenClock,
) -> None:
    settings = load_settings({"GATEWAY_ENV": "test", **CREDENTIALS})  # sandbox by default
    with pytest.raises(SettingsError, match=r"apitest\.authorize\.net"):
        AuthorizeNetConnector.from_settings(settings, clock=clock)


async def test_a_connector_from_settings_posts_where_they_say(clock: FrozenClock) -> None:
    local = load_settings(
        {
            "GATEWAY_ENV": "test",
            "GATEWAY_AUTHORIZE_NET_ENVIRONMENT": LOCAL,
            "GATEWAY_LIVE_CURRENCIES": "CAD,USD",
            **CREDENTIALS,
        }
    )
    anet = AuthorizeNetConnector.from_settings(local, clock=clock)
    await anet.aclose()
    assert (anet.url, anet.currencies, anet.account_currency) == (LOCAL, ("CAD", "USD"), "CAD")
    development = load_settings({"GATEWAY_AUTHORIZE_NET_ENVIRONMENT": "production", **CREDENTIALS})
    anet = AuthorizeNetConnector.from_settings(development, clock=clock)
    await anet.aclose()
    assert (anet.url, anet.currencies) == (PRODUCTION_URL, ("USD",))
