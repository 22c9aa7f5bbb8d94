"""In development, with no live processor set, `gateway settle` and `gateway
processors check` use the connector to the local sandbox, as `gateway up` gives
its children (issue 17 points 2 and 3)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.cli.main import main
from gateway.processors.authorize_net import answers, build
from gateway.processors.authorize_net.client import AuthorizeNetClient
from gateway.processors.authorize_net.messages import CreateTransactionResponse
from tests.fixtures.sandbox import RunningSandbox
from tests.sandbox.support import USD, charge
from tests.support import closed_port


def _development(
    sandbox: RunningSandbox, data_dir: Path, database_url: str, redis_url: str
) -> dict[str, str]:
    return {
        "GATEWAY_ENV": "development",
        "GATEWAY_DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "GATEWAY_SANDBOX_PORT": str(sandbox.config.port),
        "GATEWAY_SANDBOX_LOGIN_ID": sandbox.config.login_id,
        "GATEWAY_SANDBOX_TRANSACTION_KEY": sandbox.config.transaction_key,
        "GATEWAY_SIMULATOR_WEBHOOK_URL": "",
    }


async def _gateway(env: dict[str, str], *arguments: str) -> Result:
    # The command runs its own event loop: keep it off the test's (the sandbox's
    # thread runs one of its own too).
    return await asyncio.to_thread(CliRunner().invoke, main, list(arguments), env=env)


def _answer(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    # The sandbox's thread logs JSON lines to the same redirected stdout.
    objects = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    (answer,) = [found for found in objects if "event" not in found]
    assert isinstance(answer, dict)
    return answer


async def test_settle_settles_the_sandbox_first_and_syncs_its_batches(
    sandbox: RunningSandbox,
    client: AuthorizeNetClient,
    tmp_path: Path,
    database_url: str,
    test_redis_url: str,
    committed_engine: AsyncEngine,
) -> None:
    made = build.charge(sandbox.auth, charge(amount=1300), capture=True, accepted_currencies=USD)
    charged = answers.transaction_result(await client.post(made, CreateTransactionResponse))
    env = _development(sandbox, tmp_path, database_url, test_redis_url)
    report = _answer(await _gateway(env, "settle", "--now", "--json"))
    assert charged.processor_transaction_id in report["sandbox"]["settled"]
    # The connector was asked for the settled batches and answered.
    assert report["unreachable"] == []


async def test_settle_without_a_running_sandbox_says_so_and_settles_the_simulator(
    sandbox: RunningSandbox,
    tmp_path: Path,
    database_url: str,
    test_redis_url: str,
    committed_engine: AsyncEngine,
) -> None:
    port = closed_port()
    env = {
        **_development(sandbox, tmp_path, database_url, test_redis_url),
        "GATEWAY_SANDBOX_PORT": str(port),
    }
    result = await _gateway(env, "settle", "--now", "--json")
    report = _answer(result)
    assert report["sandbox"] is None
    assert report["unreachable"] == []  # the simulator alone was asked
    said = [line for line in result.stderr.splitlines() if "sandbox" in line]
    assert said == [
        "gateway: the sandbox was not settled (no sandbox answers at"
        f" http://127.0.0.1:{port}/_sandbox/settle (ConnectError)); carrying on"
    ]


async def test_processors_check_authenticates_against_the_local_sandbox(
    sandbox: RunningSandbox, tmp_path: Path, database_url: str, test_redis_url: str
) -> None:
    env = _development(sandbox, tmp_path, database_url, test_redis_url)
    checked = _answer(await _gateway(env, "processors", "check", "--json"))
    assert checked["ok"] is True
    assert checked["url"] == sandbox.api_url
    # A live processor the user set is theirs: here, Authorize.Net's public sandbox
    # without credentials.
    mine = {**env, "GATEWAY_PROCESSOR": "simulator"}
    result = await _gateway(mine, "processors", "check")
    assert result.exit_code == 1
    assert "GATEWAY_AUTHORIZE_NET_LOGIN_ID and GATEWAY_AUTHORIZE_NET_TRANSACTION_KEY not set" in (
        result.output
    )
