"""What an operator runs during a chaos run: `gateway ... --json` commands, never
under fault injection, and settlement as the cron job would run it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from typing import Any

SCOPES = "payments:read,payments:write,subscriptions:read,subscriptions:write"


def command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "gateway.cli", *arguments, "--json"]


def operator(environment: dict[str, str]) -> dict[str, str]:
    # Commands an operator runs are not under fault injection.
    return {**environment, "GATEWAY_FAULT_INJECTION": ""}


def gateway(environment: dict[str, str], *arguments: str) -> dict[str, Any]:
    """Run a `gateway ... --json` command as an operator would; its JSON answer."""
    completed = subprocess.run(  # noqa: S603 - our own command line
        command(*arguments),
        env=operator(environment),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"gateway {' '.join(arguments)} failed: {completed.stderr[-2000:]}")
    answer: dict[str, Any] = json.loads(completed.stdout)
    return answer


def merchant_key(environment: dict[str, str], *, live: bool) -> str:
    """A new merchant's API key: a test key (the simulator), or a live key (the
    configured processor)."""
    merchant = gateway(environment, "merchants", "create", "Chaos Merchant")
    issued = gateway(
        environment,
        "keys", "create", "--merchant", merchant["id"], "--scope", SCOPES,
        *(["--live"] if live else []),
    )  # fmt: skip
    key: str = issued["key"]
    return key


async def settle(environment: dict[str, str], failures: Counter[str]) -> None:
    """`gateway settle --now`, as the cron job would at the cut-off; it may fail
    while Redis or PostgreSQL is being broken, and the next run catches up."""
    process = await asyncio.create_subprocess_exec(
        *command("settle", "--now"),
        env=operator(environment),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    if await process.wait() != 0:
        failures["settlement runs failed"] += 1
