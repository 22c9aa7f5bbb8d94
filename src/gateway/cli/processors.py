"""`gateway processors check`: are the Authorize.Net credentials and environment right?"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import NoReturn

import click
import msgspec

from gateway.cli.common import EXIT_FAILED, emit, fail, json_option, load_settings_or_exit
from gateway.cli.local_sandbox import with_local_sandbox
from gateway.composition.processors import authorize_net
from gateway.core.clock import SystemClock
from gateway.core.setting_types import SettingsError
from gateway.core.settings import Settings
from gateway.processors.port import ProcessorError, RequestRejectedError


class CheckResult(msgspec.Struct, frozen=True):
    ok: bool
    environment: str
    url: str
    login_id: str  # masked
    error: str | None = None


@click.group()
def processors() -> None:
    """The live processor (Authorize.Net) this deployment is configured for."""


@processors.command()
@json_option
def check(as_json: bool) -> None:
    """Authenticate against the configured Authorize.Net environment
    (authenticateTestRequest), moving no money.

    Exits 0 naming the environment and the masked login id, 1 with
    Authorize.Net's message (or why it could not be reached). In development,
    unless GATEWAY_PROCESSOR or GATEWAY_AUTHORIZE_NET_* is set, that is the local
    sandbox `gateway up` runs.
    """
    # In development, unless set, the processor `gateway up` gives live keys.
    settings = with_local_sandbox(os.environ, load_settings_or_exit())
    config = settings.processor
    login_id = mask(config.authorize_net_login_id)
    environment = config.authorize_net_environment
    missing = [
        name
        for name, value in (
            ("GATEWAY_AUTHORIZE_NET_LOGIN_ID", config.authorize_net_login_id),
            ("GATEWAY_AUTHORIZE_NET_TRANSACTION_KEY", config.authorize_net_transaction_key),
        )
        if not value
    ]
    if missing:
        reason = f"{' and '.join(missing)} not set"
        _failed(CheckResult(False, environment, "", login_id, reason), as_json)
    try:
        url, error = asyncio.run(_authenticate(settings))
    except SettingsError as refused:
        _failed(CheckResult(False, environment, "", login_id, str(refused)), as_json)
    result = CheckResult(error is None, environment, url, login_id, error)
    if error is not None:
        _failed(result, as_json)
    emit(
        result,
        as_json=as_json,
        human=lambda: f"Authorize.Net {_where(result)}: authenticated as {login_id}",
    )


async def _authenticate(settings: Settings) -> tuple[str, str | None]:
    """The URL tried, and why authenticating failed (None: it did not)."""
    connector = authorize_net(settings, clock=SystemClock())
    try:
        await connector.authenticate()
    except RequestRejectedError as refused:
        return connector.url, f"Authorize.Net refused ({refused.reason_code}): {refused}"
    except ProcessorError as error:
        return connector.url, str(error)
    finally:
        await connector.aclose()
    return connector.url, None


def _failed(result: CheckResult, as_json: bool) -> NoReturn:
    if not as_json:
        fail(f"Authorize.Net {_where(result)}: {result.error}", code=EXIT_FAILED)
    emit(result, as_json=True, human=str)
    sys.exit(EXIT_FAILED)


def _where(result: CheckResult) -> str:
    """`sandbox (https://...)`, or the URL alone when the environment is one."""
    if result.url in ("", result.environment):
        return result.environment
    return f"{result.environment} ({result.url})"


def mask(login_id: str) -> str:
    """The first and last 2 characters of a login id ("ab****yz"); a short one
    is masked whole."""
    if len(login_id) < 6:
        return "*" * len(login_id)
    return f"{login_id[:2]}{'*' * (len(login_id) - 4)}{login_id[-2:]}"
