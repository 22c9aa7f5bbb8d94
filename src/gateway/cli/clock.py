"""`gateway clock advance CLOCK_ID --to RFC3339`: a test clock's advance, as POST
/test-clocks/{id}/advance runs it, for any merchant's clock."""

from __future__ import annotations

import asyncio
from datetime import datetime

import click
import structlog

from gateway.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    emit,
    fail,
    json_option,
    load_settings_or_exit,
    running_servers,
)
from gateway.composition.process import command_process
from gateway.core.errors import GatewayError, NotFound, ValidationFailed
from gateway.core.ids import is_id
from gateway.core.settings import Settings
from gateway.subscriptions.clocks.advance import Advanced, ClockAdvance

_log = structlog.get_logger("gateway.cli")


@click.group()
def clock() -> None:
    """Test clocks (test mode only)."""


def _aware(_: click.Context, __: click.Parameter, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("an RFC 3339 time, e.g. 2026-05-01T00:00:00Z") from None
    if moment.tzinfo is None:
        raise click.BadParameter("the time needs an offset (Z or +hh:mm)")
    return moment


@clock.command()
@click.argument("clock_id", metavar="CLOCK_ID")
@click.option("--to", "target", required=True, callback=_aware, help="The new time (RFC 3339).")
@json_option
def advance(clock_id: str, target: datetime, as_json: bool) -> None:
    """Advance a test clock to --to, running every renewal, retry, trial end and
    expiry due until then, in time order, before returning.

    Exits 1 for an unknown clock or when billing on the clock stopped early (the
    processor unavailable), 2 for a time not after the clock's or in production.
    """
    if not is_id(clock_id, "clock"):
        raise click.BadParameter("a test clock id (clock_...)", param_hint="CLOCK_ID")
    settings = load_settings_or_exit()
    if settings.is_production:
        fail("test clocks are for test mode only (GATEWAY_ENV=production)", code=EXIT_USAGE)
    with running_servers(settings) as ready:
        try:
            advanced = asyncio.run(_advance(ready, clock_id, target))
        except NotFound as error:
            fail(error.detail, code=EXIT_FAILED)
        except ValidationFailed as error:
            fail(error.detail, code=EXIT_USAGE)
        except GatewayError as error:
            fail(error.detail, code=EXIT_FAILED)
    body = {
        "id": advanced.clock.id,
        "frozen_time": advanced.clock.frozen_time.isoformat().replace("+00:00", "Z"),
        "status": advanced.clock.status,
        "passes": advanced.passes,
    }
    emit(
        body,
        as_json=as_json,
        human=lambda: f"{body['id']} is at {body['frozen_time']} ({body['passes']} billing passes)",
    )


async def _advance(settings: Settings, clock_id: str, target: datetime) -> Advanced:
    async with command_process(settings) as process:
        service = ClockAdvance(
            process.session_factory,
            wall=process.clock,
            processors=process.processors_at,
            crypto=process.crypto,
            settings=settings,
        )
        return await service.advance(None, clock_id, target)
