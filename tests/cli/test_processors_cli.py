"""`gateway processors check`: authenticateTestRequest against the configured
environment; 0 with the environment and the masked login id, 1 naming why not."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner, Result

from gateway.cli import main
from gateway.cli.processors import mask
from tests.processors.authorize_net.local_server import BOM, OK_BODY, answer_with, serving
from tests.support import closed_port

LOGIN_ID = "ab3K9mQ2yz"
E00007 = BOM + (
    b'{"messages":{"resultCode":"Error","message":[{"code":"E00007","text":"User'
    b' authentication failed due to invalid authentication values."}]}}'
)


async def check(*arguments: str, **env: str) -> Result:
    environment = {
        "GATEWAY_ENV": "test",
        "GATEWAY_LOG_JSON": "true",
        "GATEWAY_AUTHORIZE_NET_LOGIN_ID": LOGIN_ID,
        "GATEWAY_AUTHORIZE_NET_TRANSACTION_KEY": "0123456789abcdef",
        "GATEWAY_PROCESSOR_CONNECT_TIMEOUT_S": "1",
        **env,
    }
    return await asyncio.to_thread(
        CliRunner().invoke, main, ["processors", "check", *arguments], env=environment
    )


def test_the_login_id_is_masked() -> None:
    assert mask("ab3K9mQ2yz") == "ab******yz"
    assert mask("abcdefgh") == "ab****gh"
    assert mask("abc") == "***"


async def test_credentials_authorize_net_accepts_pass() -> None:
    async with serving(answer_with(200, OK_BODY)) as (url, seen):
        result = await check(GATEWAY_AUTHORIZE_NET_ENVIRONMENT=url)
        as_json = await check("--json", GATEWAY_AUTHORIZE_NET_ENVIRONMENT=url)

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"Authorize.Net {url}: authenticated as ab******yz"
    assert LOGIN_ID not in result.output
    assert json.loads(as_json.stdout) == {
        "ok": True,
        "environment": url,
        "url": url,
        "login_id": "ab******yz",
        "error": None,
    }
    sent = json.loads(seen.requests[0][1])
    assert list(sent) == ["authenticateTestRequest"]


async def test_refused_credentials_fail_with_authorize_nets_message() -> None:
    async with serving(answer_with(200, E00007)) as (url, _):
        result = await check(GATEWAY_AUTHORIZE_NET_ENVIRONMENT=url)
        as_json = await check("--json", GATEWAY_AUTHORIZE_NET_ENVIRONMENT=url)

    assert result.exit_code == 1
    assert "E00007" in result.stderr
    assert "User authentication failed due to invalid authentication values." in result.stderr
    assert as_json.exit_code == 1
    answer = json.loads(as_json.stdout)
    assert answer["ok"] is False
    assert "E00007" in answer["error"]


async def test_an_unreachable_environment_fails_naming_the_connection_error() -> None:
    url = f"http://127.0.0.1:{closed_port()}/xml/v1/request.api"
    result = await check(GATEWAY_AUTHORIZE_NET_ENVIRONMENT=url)
    as_json = await check("--json", GATEWAY_AUTHORIZE_NET_ENVIRONMENT=url)

    assert result.exit_code == 1
    assert "not sent: ConnectError" in result.stderr
    assert url in result.stderr
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["ok"] is False


async def test_a_test_run_refuses_authorize_nets_public_sandbox() -> None:
    result = await check()  # GATEWAY_AUTHORIZE_NET_ENVIRONMENT=sandbox by default
    assert result.exit_code == 1
    assert "loopback" in result.stderr


async def test_missing_credentials_are_named() -> None:
    result = await check(
        GATEWAY_AUTHORIZE_NET_LOGIN_ID="", GATEWAY_AUTHORIZE_NET_TRANSACTION_KEY=""
    )
    assert result.exit_code == 1
    assert "GATEWAY_AUTHORIZE_NET_LOGIN_ID and GATEWAY_AUTHORIZE_NET_TRANSACTION_KEY not set" in (
        result.stderr
    )
