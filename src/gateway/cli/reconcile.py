"""`gateway reconcile`: one reconciliation pass in the foreground."""

from __future__ import annotations

import asyncio

import click
import structlog

from gateway.cli.common import (
    EXIT_FAILED,
    emit,
    fail,
    json_option,
    load_settings_or_exit,
    running_servers,
)
from gateway.composition.process import command_sessions, open_processors
from gateway.composition.resources import field_crypto
from gateway.core.clock import SystemClock
from gateway.core.settings import Settings
from gateway.payments.reconciliation import ReconcileSummary, reconcile_pass

_log = structlog.get_logger("gateway.cli")


@click.command()
@click.option(
    "--now", "ignore_backoff", is_flag=True, help="Ask about every pending one, ignoring backoff."
)
@json_option
def reconcile(ignore_backoff: bool, as_json: bool) -> None:
    """Ask the processor what became of pending transactions, once.

    Each pending transaction (a lost answer, a charge held for review) is looked
    up by its own id, never re-sent, and finished as its request would have been.
    One the processor has not seen waits with backoff, then fails once it is
    GATEWAY_RECONCILE_NOT_FOUND_AFTER_MINUTES old. Exits 1 only when the pass
    itself could not run.
    """
    settings = load_settings_or_exit()
    with running_servers(settings) as ready:
        try:
            summary = asyncio.run(_reconcile(ready, ignore_backoff=ignore_backoff))
        except Exception as error:  # noqa: BLE001 - whatever stops the pass, say so and exit 1
            _log.exception("reconciliation.failed")
            fail(f"reconciliation failed: {type(error).__name__}", code=EXIT_FAILED)

    def human() -> str:
        resolved = ", ".join(f"{count} {status}" for status, count in summary.resolved.items())
        return (
            f"claimed {summary.claimed}; resolved: {resolved or 'none'};"
            f" still pending {summary.still_pending};"
            f" failed as not found {summary.failed_not_found}"
        )

    emit(summary.as_dict(), as_json=as_json, human=human)


async def _reconcile(settings: Settings, *, ignore_backoff: bool) -> ReconcileSummary:
    clock = SystemClock()
    async with (
        command_sessions(settings) as sessions,
        open_processors(settings, clock) as processors,
    ):
        return await reconcile_pass(
            sessions,
            clock=clock,
            processors=processors.registry,
            crypto=field_crypto(settings),
            settings=settings.payments,
            ignore_backoff=ignore_backoff,
        )
