"""Production refuses to start on a live processor that could not move real money
(issue 17, point 6): Authorize.Net needs its production environment or an https://
URL, and its credentials; the simulator there posts no webhooks."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.core.setting_types import SettingsError
from gateway.core.settings import load_settings

# A random key, as Authorize.Net generates (production refuses guessable ones).
SIGNATURE_KEY = (
    "F16A4BEC72E3A386AAA3AA8532F8CC0F54B2A81285A46692B00D2FC3DA289C2F"
    "F748A37E893E50C2D369A239AB0B46400212BA218166B21E864BCE6D1E2BAEA7"
)
PRODUCTION_READY = {
    "GATEWAY_ENV": "production",
    "DATABASE_URL": "postgresql+asyncpg://gw@db.internal/gateway",
    "REDIS_URL": "redis://:a-redis-password@cache.internal:6379/0",
    "GATEWAY_ENCRYPTION_KEYS": "k1:" + "A" * 43 + "=",
    "GATEWAY_FINGERPRINT_KEY": "f" * 44,
    "GATEWAY_BLIND_INDEX_KEY": "b" * 44,
    "GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS": SIGNATURE_KEY,
    "GATEWAY_DASHBOARD_PASSWORD": "a long dashboard password",
    "GATEWAY_METRICS_TOKEN": "a-metrics-scrape-token",
}
AUTHORIZE_NET = {
    **PRODUCTION_READY,
    "GATEWAY_PROCESSOR": "authorize_net",
    "GATEWAY_AUTHORIZE_NET_ENVIRONMENT": "production",
    "GATEWAY_AUTHORIZE_NET_LOGIN_ID": "5KP3u95bQpv",
    "GATEWAY_AUTHORIZE_NET_TRANSACTION_KEY": "346HZ32z3fP4hTG2",
}


@pytest.mark.parametrize(
    "environment",
    ["production", "https://anet-proxy.internal/authorize-net/xml/v1/request.api"],
)
def test_authorize_net_starts_in_production_on_its_production_or_an_https_url(
    environment: str,
) -> None:
    settings = load_settings({**AUTHORIZE_NET, "GATEWAY_AUTHORIZE_NET_ENVIRONMENT": environment})
    assert settings.processor.authorize_net_environment == environment


@pytest.mark.parametrize("environment", ["sandbox", "http://127.0.0.1:8090/xml/v1/request.api"])
def test_authorize_net_in_production_refuses_a_sandbox_or_plain_http(environment: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({**AUTHORIZE_NET, "GATEWAY_AUTHORIZE_NET_ENVIRONMENT": environment})
    message = str(refused.value)
    assert message.startswith(
        "GATEWAY_AUTHORIZE_NET_ENVIRONMENT: must be production or an https://"
    )
    assert repr(environment) in message


def test_authorize_net_in_production_on_the_default_environment_refuses_to_start() -> None:
    environ = {k: v for k, v in AUTHORIZE_NET.items() if k != "GATEWAY_AUTHORIZE_NET_ENVIRONMENT"}
    with pytest.raises(SettingsError, match=r"^GATEWAY_AUTHORIZE_NET_ENVIRONMENT: must be"):
        load_settings(environ)


@pytest.mark.parametrize(
    "missing",
    [
        "GATEWAY_AUTHORIZE_NET_LOGIN_ID",
        "GATEWAY_AUTHORIZE_NET_TRANSACTION_KEY",
        "GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS",
    ],
)
def test_authorize_net_in_production_refuses_to_start_without_a_credential(missing: str) -> None:
    environ = {name: value for name, value in AUTHORIZE_NET.items() if name != missing}
    with pytest.raises(SettingsError, match=f"^{missing}: required when"):
        load_settings(environ)


def test_an_environment_that_is_neither_a_name_nor_the_endpoint_url_is_refused() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({"GATEWAY_AUTHORIZE_NET_ENVIRONMENT": "https://api.example/other"})
    assert str(refused.value).startswith(
        "GATEWAY_AUTHORIZE_NET_ENVIRONMENT: expected sandbox, production or a URL ending in"
    )


def test_production_on_the_simulator_starts_with_its_webhooks_off() -> None:
    settings = load_settings(
        {**PRODUCTION_READY, "GATEWAY_SIMULATOR_WEBHOOK_URL": "https://gw.example/hook"}
    )
    assert settings.processor.processor == "simulator"
    assert settings.webhooks.simulator_webhook_url == ""


def test_the_cli_refuses_to_start_with_exit_2_naming_the_setting() -> None:
    environ = {**AUTHORIZE_NET, "GATEWAY_AUTHORIZE_NET_ENVIRONMENT": "sandbox"}
    result = CliRunner().invoke(main, ["serve"], env=environ)
    assert result.exit_code == 2
    assert "configuration error: GATEWAY_AUTHORIZE_NET_ENVIRONMENT" in result.output
