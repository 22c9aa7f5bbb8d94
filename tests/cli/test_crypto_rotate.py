"""`gateway crypto rotate` end to end: the real database, committed rows, its own engine."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.cli import main
from gateway.cli.crypto import _ProgressDisplay
from gateway.core.crypto import KeyRing, generate_key, key_id
from gateway.core.rotation import Progress
from tests.core.test_rotation import (
    NEW_KID,
    OLD_KID,
    ROWS_PER_TABLE,
    TABLES,
    assert_every_value_opens,
    seed,
    stored_tokens,
    update_value,
)


@pytest.fixture
def entries() -> tuple[str, str]:
    """(new, old) GATEWAY_ENCRYPTION_KEYS entries."""
    return generate_key(NEW_KID), generate_key(OLD_KID)


@pytest.fixture
def cli_env(
    database_url: str,
    test_redis_url: str,
    committed_engine: AsyncEngine,
    entries: tuple[str, str],
) -> dict[str, str]:
    """The command commits for real; `committed_engine` truncates afterwards."""
    new, old = entries
    return {
        "GATEWAY_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": test_redis_url,
        "GATEWAY_ENCRYPTION_KEYS": f"{new},{old}",
    }


async def gateway(env: dict[str, str], *arguments: str) -> Result:
    # The command runs its own event loop: keep it off the test's.
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, main, list(arguments), env=env)


def rows_of(output: str, first_cell: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines() if line.startswith(first_cell + " ")]


async def test_rotate_reports_per_table_and_per_key(
    cli_env: dict[str, str], committed_engine: AsyncEngine, entries: tuple[str, str]
) -> None:
    new, old = entries
    await seed(committed_engine, KeyRing.parse(old))

    result = await gateway(cli_env, "crypto", "rotate", "--batch-size", "2")

    assert result.exit_code == 0, result.output
    for table in TABLES:
        per_table, *per_key = rows_of(result.stdout, table)
        assert per_table == [table, "5", "5", "0", "0"]  # to do, rotated, skipped, failed
        assert sorted(per_key) == [[table, OLD_KID, "0"], [table, NEW_KID, "(active)", "5"]]
    # Without a terminal the progress is plain lines, on stderr.
    assert "transactions: 5 rows to rotate" in result.stderr
    assert "transactions: 5/5 rows, done" in result.stderr
    tokens = await stored_tokens(committed_engine)
    assert {key_id(token) for token in tokens.values()} == {NEW_KID}
    assert_every_value_opens(tokens, KeyRing.parse(new))


async def test_rotate_json_and_a_second_run(
    cli_env: dict[str, str], committed_engine: AsyncEngine, entries: tuple[str, str]
) -> None:
    await seed(committed_engine, KeyRing.parse(entries[1]))

    first = await gateway(cli_env, "crypto", "rotate", "--json")

    assert first.exit_code == 0, first.output
    view: dict[str, Any] = json.loads(first.stdout)
    assert view["active_key_id"] == NEW_KID
    assert (view["rotated"], view["skipped"], view["failed"]) == (
        len(TABLES) * ROWS_PER_TABLE,
        0,
        0,
    )
    assert view["tables"] == [
        {"table": table, "to_do": 5, "rotated": 5, "skipped": 0, "failed": 0} for table in TABLES
    ]
    assert sorted(view["keys"], key=lambda k: (k["table"], k["key_id"])) == sorted(
        [{"table": table, "key_id": OLD_KID, "rows": 0} for table in TABLES]
        + [{"table": table, "key_id": NEW_KID, "rows": 5} for table in TABLES],
        key=lambda k: (k["table"], k["key_id"]),
    )

    second = await gateway(cli_env, "crypto", "rotate", "--json")
    assert second.exit_code == 0, second.output
    again = json.loads(second.stdout)
    assert again["rotated"] == 0
    assert [t["to_do"] for t in again["tables"]] == [0] * len(TABLES)


async def test_rotate_exits_1_when_a_value_will_not_open(
    cli_env: dict[str, str], committed_engine: AsyncEngine, entries: tuple[str, str]
) -> None:
    ids = await seed(committed_engine, KeyRing.parse(entries[1]))
    row_id = ids["payment_methods"][0]
    foreign = KeyRing.parse(generate_key("gone")).encrypt(
        "tok", table="payment_methods", column="processor_token", row_id=row_id
    )
    await update_value(
        committed_engine, ("payment_methods", "processor_token_encrypted", row_id), foreign
    )

    result = await gateway(cli_env, "crypto", "rotate", "--json")

    assert result.exit_code == 1, result.output
    view = json.loads(result.stdout)
    assert view["failed"] == 1
    assert view["rotated"] == len(TABLES) * ROWS_PER_TABLE - 1
    assert {"table": "payment_methods", "key_id": "gone", "rows": 1} in view["keys"]
    assert row_id in result.stderr, "the failure is logged by row id"
    assert foreign not in result.output, "never the value"

    human = await gateway(cli_env, "crypto", "rotate")
    assert human.exit_code == 1
    assert rows_of(human.stdout, "payment_methods")[0] == ["payment_methods", "1", "0", "0", "1"]
    assert "would not open" in human.stdout


@pytest.mark.parametrize("size", ["0", "-1", "many"])
async def test_rotate_refuses_a_bad_batch_size(cli_env: dict[str, str], size: str) -> None:
    result = await gateway(cli_env, "crypto", "rotate", "--batch-size", size)
    assert result.exit_code == 2, result.output


async def test_rotate_is_listed_in_help(cli_env: dict[str, str]) -> None:
    result = await gateway(cli_env, "crypto", "--help")
    assert result.exit_code == 0
    assert "rotate" in result.output


def test_an_interrupted_run_says_what_is_kept() -> None:
    stream = io.StringIO()
    display = _ProgressDisplay(stream)
    display(Progress("transactions", 0, 5))
    display(Progress("transactions", 2, 5))
    display.close(stopped=True)
    assert stream.getvalue().splitlines() == [
        "transactions: 5 rows to rotate",
        "transactions: stopped at 2/5 rows; what was done is kept, run again to finish",
    ]
