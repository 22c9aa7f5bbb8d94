"""`gateway operators create` through click's runner, against the real database."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.cli import main


async def test_operators_create_reads_the_password_from_stdin_and_refuses_a_second(
    database_url: str, test_redis_url: str, committed_engine: AsyncEngine
) -> None:
    env = {"GATEWAY_ENV": "test", "DATABASE_URL": database_url, "REDIS_URL": test_redis_url}
    runner = CliRunner()
    arguments = ["operators", "create", "Ops@Example.test", "--role", "admin", "--password-stdin"]

    def run(password: str, *extra: str) -> tuple[int, str]:
        result = runner.invoke(main, [*arguments, *extra], env=env, input=password + "\n")
        return result.exit_code, result.output

    code, output = await asyncio.to_thread(run, "a long enough password", "--json")
    assert code == 0, output
    created = json.loads(output)
    assert created["email"] == "ops@example.test"
    assert created["role"] == "admin"
    assert created["id"].startswith("op_")
    async with committed_engine.connect() as connection:
        stored = (await connection.execute(text("SELECT password_hash FROM operators"))).scalar()
    assert str(stored).startswith("$argon2id$")

    code, output = await asyncio.to_thread(run, "a long enough password")
    assert code == 2
    assert "exists already" in output
    code, output = await asyncio.to_thread(run, "short")
    assert code == 2
    assert "at least 12 characters" in output
