"""`gateway sandbox`: the Authorize.Net-compatible sandbox server and its
development control surface (never in production)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from collections.abc import Iterator
from typing import Any

import click

from gateway.cli.common import (
    EXIT_FAILED,
    emit,
    fail,
    json_option,
    load_settings_or_exit,
    running_servers,
)
from gateway.cli.local_sandbox import SandboxRefusedControl, SandboxUnreachable, control
from gateway.core.embedded import terminate_on_signals
from gateway.core.settings import Settings
from gateway.sandbox.config import SandboxConfig, SandboxRefused, sandbox_config

PRODUCTION_REFUSAL = "gateway sandbox: refused in production (GATEWAY_ENV=production)"


@click.group()
def sandbox() -> None:
    """The Authorize.Net-compatible sandbox server (development and tests only)."""


def _refuse_production() -> None:
    # Before the settings: production refuses to load without its secrets, and
    # the answer here must be this line, whatever else is missing.
    if os.environ.get("GATEWAY_ENV", "").strip() == "production":
        fail(PRODUCTION_REFUSAL.removeprefix("gateway "), code=EXIT_FAILED)


def _config(settings: Settings) -> SandboxConfig:
    try:
        return sandbox_config(settings)
    except SandboxRefused as error:
        fail(f"sandbox: {error}", code=EXIT_FAILED)


@contextlib.contextmanager
def _database_server(settings: Settings) -> Iterator[Settings]:
    """The gateway's server (embedded if unset) when the sandbox's database is on it."""
    if settings.sandbox.database_url:
        yield settings
        return
    with running_servers(settings, redis=False) as ready:
        yield ready


@sandbox.command()
@click.option("--port", type=int, help="Listen port (default: GATEWAY_SANDBOX_PORT).")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Listen address; a container gives 0.0.0.0 so the API's container reaches it.",
)
def serve(port: int | None, host: str) -> None:
    """Serve POST /xml/v1/request.api until Ctrl-C or SIGTERM."""
    _refuse_production()
    settings = load_settings_or_exit()
    with terminate_on_signals(), _database_server(settings) as ready:
        config = _config(ready)
        if port is not None:
            config = dataclasses.replace(config, port=port)
        click.echo(f"sandbox: {config.url} (login id {config.login_id})")
        asyncio.run(_serve(ready, config, host))


async def _serve(settings: Settings, config: SandboxConfig, host: str) -> None:
    from gateway.composition.sandbox import open_sandbox  # noqa: PLC0415 - slow imports
    from gateway.sandbox import server  # noqa: PLC0415

    async with open_sandbox(settings, config) as process:
        background = [server.daily_settlement(process.simulator), *process.background]
        await server.serve(server.server(process.app, config.port, host), background)


def _control(action: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /_sandbox/<action> to the running sandbox, with its credentials."""
    _refuse_production()
    sandbox_settings = load_settings_or_exit().sandbox  # the credentials filled in
    try:
        return control(sandbox_settings, action, body)
    except (SandboxUnreachable, SandboxRefusedControl) as error:
        fail(f"sandbox: {error}", code=EXIT_FAILED)


@sandbox.command()
@click.option(
    "--now", is_flag=True, help="Settle everything unsettled, not only what precedes the cut-off."
)
@json_option
def settle(now: bool, as_json: bool) -> None:
    """Run the sandbox's settlement (its daily batch after the cut-off)."""
    answer = _control("settle", {"now": now})
    emit(
        answer,
        as_json=as_json,
        human=lambda: (
            f"batch {answer['batch_id'] or '(none)'}: {len(answer['settled'])} settled,"
            f" {len(answer['expired'])} expired"
        ),
    )


@sandbox.command()
@click.argument("trans_id")
@click.argument("decision", type=click.Choice(["approve", "decline"]))
@json_option
def review(trans_id: str, decision: str, as_json: bool) -> None:
    """Decide a transaction the sandbox holds for review (reasons 252/253)."""
    answer = _control("review", {"trans_id": trans_id, "decision": decision})
    emit(answer, as_json=as_json, human=lambda: f"{answer['trans_id']}: {answer['status']}")


@sandbox.command()
@click.argument("state", type=click.Choice(["on", "off"]))
@json_option
def outage(state: str, as_json: bool) -> None:
    """Drop every call to the sandbox, as an unreachable processor, until `off`."""
    answer = _control("outage", {"on": state == "on"})
    emit(answer, as_json=as_json, human=lambda: f"sandbox outage {state}")
