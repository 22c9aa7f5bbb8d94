"""Which live processor development gets: the connector to the local sandbox
unless the user chose one; the simulator everywhere else (issue 17 point 3)."""

from __future__ import annotations

import msgspec
import pytest

from gateway.cli.local_sandbox import (
    USER_CHOICES,
    LocalSandbox,
    local_sandbox_processor,
    points_at_local_sandbox,
    with_local_sandbox,
)
from gateway.core.settings import Settings, load_settings

LOGIN_ID = "sbx0123456789"
TRANSACTION_KEY = "0123456789abcdef"


def _settings(env: str = "development", **environ: str) -> Settings:
    return load_settings(
        {
            "GATEWAY_ENV": env,
            "GATEWAY_SANDBOX_PORT": "8123",
            "GATEWAY_SANDBOX_LOGIN_ID": LOGIN_ID,
            "GATEWAY_SANDBOX_TRANSACTION_KEY": TRANSACTION_KEY,
            **environ,
        }
    )


def test_development_sends_live_keys_to_the_local_sandbox() -> None:
    local = local_sandbox_processor({}, _settings())
    assert local == LocalSandbox(
        "http://127.0.0.1:8123/xml/v1/request.api", LOGIN_ID, TRANSACTION_KEY
    )
    assert local.environment() == {
        "GATEWAY_PROCESSOR": "authorize_net",
        "GATEWAY_AUTHORIZE_NET_ENVIRONMENT": "http://127.0.0.1:8123/xml/v1/request.api",
        "GATEWAY_AUTHORIZE_NET_LOGIN_ID": LOGIN_ID,
        "GATEWAY_AUTHORIZE_NET_TRANSACTION_KEY": TRANSACTION_KEY,
    }
    assert TRANSACTION_KEY not in repr(local)
    # The variables, loaded, are the settings `apply` makes.
    applied = with_local_sandbox({}, _settings())
    assert applied.processor == _settings(**local.environment()).processor
    assert points_at_local_sandbox(applied)


@pytest.mark.parametrize("name", USER_CHOICES)
@pytest.mark.parametrize("value", ["simulator", "authorize_net"])
def test_any_choice_of_the_user_wins(name: str, value: str) -> None:
    chosen = {name: value if name == "GATEWAY_PROCESSOR" else "x"}
    assert local_sandbox_processor(chosen, _settings()) is None
    # Empty means unset, as for every setting.
    assert local_sandbox_processor({name: " "}, _settings()) is not None


@pytest.mark.parametrize("env", ["test", "production"])
def test_elsewhere_the_default_stays_the_simulator(env: str) -> None:
    # Production loads only with its secrets: the same settings, relabelled.
    settings = _settings("test")
    settings = msgspec.structs.replace(
        settings, core=msgspec.structs.replace(settings.core, env=env)
    )
    assert local_sandbox_processor({}, settings) is None
    assert with_local_sandbox({}, settings).processor.processor == "simulator"


def test_points_at_local_sandbox_only_for_the_connector_on_the_sandbox_port() -> None:
    url = "http://127.0.0.1:8123/xml/v1/request.api"
    assert not points_at_local_sandbox(_settings())  # the simulator
    credentials = {
        "GATEWAY_AUTHORIZE_NET_LOGIN_ID": "a",
        "GATEWAY_AUTHORIZE_NET_TRANSACTION_KEY": "b",
    }
    connector = {"GATEWAY_PROCESSOR": "authorize_net", **credentials}
    assert points_at_local_sandbox(_settings(**connector, GATEWAY_AUTHORIZE_NET_ENVIRONMENT=url))
    assert points_at_local_sandbox(
        _settings(
            **connector,
            GATEWAY_AUTHORIZE_NET_ENVIRONMENT="http://localhost:8123/xml/v1/request.api",
        )
    )
    for elsewhere in ("sandbox", "http://127.0.0.1:9999/xml/v1/request.api"):
        assert not points_at_local_sandbox(
            _settings(**connector, GATEWAY_AUTHORIZE_NET_ENVIRONMENT=elsewhere)
        )
