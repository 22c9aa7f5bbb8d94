"""The admin commands through click's runner, against the real database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.cli import main
from gateway.merchants import keys


@pytest.fixture
def cli_env(
    database_url: str, test_redis_url: str, committed_engine: AsyncEngine
) -> dict[str, str]:
    """The commands commit for real; `committed_engine` truncates afterwards."""
    return {"GATEWAY_ENV": "test", "DATABASE_URL": database_url, "REDIS_URL": test_redis_url}


async def gateway(env: dict[str, str], *arguments: str) -> Result:
    # The commands run their own event loop: keep it off the test's.
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, main, list(arguments), env=env)


def as_json(result: Result) -> dict[str, object]:
    assert result.exit_code == 0, result.output
    loaded: dict[str, object] = json.loads(result.stdout)
    return loaded


async def test_merchant_lifecycle(cli_env: dict[str, str]) -> None:
    created = as_json(await gateway(cli_env, "merchants", "create", "Acme Books", "--json"))
    assert set(created) == {"id", "name", "created_at"}
    assert created["name"] == "Acme Books"
    merchant_id = str(created["id"])
    assert merchant_id.startswith("mer_")

    listed = as_json(await gateway(cli_env, "merchants", "list", "--json"))
    assert [row["id"] for row in listed["data"]] == [merchant_id]  # type: ignore[attr-defined]

    updated = as_json(
        await gateway(cli_env, "merchants", "update", merchant_id, "--max-amount", "5000", "--json")
    )
    assert updated["max_amount"] == 5000

    human = await gateway(cli_env, "merchants", "list")
    assert human.exit_code == 0
    assert "Acme Books" in human.output
    assert "5000" in human.output


async def test_a_merchants_rate_limit_is_set_and_returned_to_the_default(
    cli_env: dict[str, str],
) -> None:
    created = as_json(await gateway(cli_env, "merchants", "create", "Busy", "--json"))
    merchant_id = str(created["id"])
    update = ("merchants", "update", merchant_id)
    updated = as_json(await gateway(cli_env, *update, "--rate-limit", "5", "--json"))
    assert (updated["rate_limit"], updated["max_amount"]) == (5, None)
    listed = as_json(await gateway(cli_env, "merchants", "list", "--json"))
    assert listed["data"][0]["rate_limit"] == 5  # type: ignore[index]
    back = as_json(await gateway(cli_env, *update, "--rate-limit", "0", "--json"))
    assert back["rate_limit"] is None
    assert (await gateway(cli_env, *update)).exit_code == 2  # neither option given


async def test_key_lifecycle(cli_env: dict[str, str], committed_engine: AsyncEngine) -> None:
    merchant_id = as_json(await gateway(cli_env, "merchants", "create", "Shop", "--json"))["id"]
    issued = as_json(
        await gateway(
            cli_env,
            "keys", "create", "--merchant", str(merchant_id),
            "--scope", "payments:read,payments:write", "--scope", "webhooks:admin", "--json",
        )
    )  # fmt: skip
    assert set(issued) == {"id", "key", "prefix", "scopes"}
    assert issued["scopes"] == ["payments:read", "payments:write", "webhooks:admin"]
    secret = str(issued["key"])
    assert secret.startswith("gw_test_")
    assert issued["prefix"] == secret[:12]

    live = as_json(
        await gateway(
            cli_env,
            "keys",
            "create",
            "--merchant",
            str(merchant_id),
            "--scope",
            "admin",
            "--live",
            "--json",
        )
    )
    assert str(live["key"]).startswith("gw_live_")

    async with committed_engine.connect() as connection:
        stored = (
            (await connection.execute(text("SELECT key_hash FROM api_keys ORDER BY id")))
            .scalars()
            .all()
        )
    assert keys.digest(secret) in stored
    assert secret not in stored

    listing = as_json(
        await gateway(cli_env, "keys", "list", "--merchant", str(merchant_id), "--json")
    )
    assert [row["id"] for row in listing["data"]] == [live["id"], issued["id"]]  # type: ignore[attr-defined]
    assert secret not in json.dumps(listing)

    revoked = as_json(await gateway(cli_env, "keys", "revoke", str(issued["id"]), "--json"))
    assert revoked["revoked_at"] is not None


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        (["keys", "revoke", "key_0000000000000000"], 1),
        (["merchants", "update", "mer_0000000000000000", "--max-amount", "10"], 1),
        (["keys", "list", "--merchant", "mer_0000000000000000"], 1),
        (["keys", "create", "--merchant", "mer_0000000000000000", "--scope", "admin"], 1),
        (["keys", "create", "--merchant", "mer_x", "--scope", "root"], 2),
        (["keys", "create", "--merchant", "mer_x"], 2),
        (["merchants", "update", "mer_x", "--max-amount", "-5"], 2),
        (["merchants", "update", "mer_x", "--rate-limit", "-1"], 2),
        (["merchants", "create"], 2),
        (["no-such-command"], 2),
    ],
)
async def test_exit_codes(cli_env: dict[str, str], arguments: Sequence[str], code: int) -> None:
    result = await gateway(cli_env, *arguments)
    assert result.exit_code == code, result.output


async def test_help_is_there_for_every_command(cli_env: dict[str, str]) -> None:
    top = await gateway(cli_env, "--help")
    assert top.exit_code == 0
    for command in ("up", "serve", "worker", "cron", "migrate", "dashboard", "merchants", "keys"):
        assert command in top.output
        assert (await gateway(cli_env, command, "--help")).exit_code == 0


async def test_migrate_is_idempotent(cli_env: dict[str, str]) -> None:
    result = await gateway(cli_env, "migrate")
    assert result.exit_code == 0, result.output
    assert "migrations applied" in result.output
