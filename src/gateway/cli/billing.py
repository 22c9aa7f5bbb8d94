"""`gateway billing run`: one billing pass in the foreground."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from contextlib import AbstractContextManager

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
from gateway.subscriptions.billing.passes import BillingRun, billing_pass

_log = structlog.get_logger("gateway.cli")


@click.group()
def billing() -> None:
    """Recurring billing."""


@billing.command()
@click.option(
    "--now",
    "ignore_backoff",
    is_flag=True,
    help="Retry every unpaid invoice now, ignoring its dunning or postponement wait.",
)
@json_option
def run(ignore_backoff: bool, as_json: bool) -> None:
    """Run one billing pass in the foreground, as the cron tick and workers would.

    Outcomes reconciliation found are recorded, due retries and renewals are
    requested, and every requested invoice is charged here, at most once (a worker
    given the same invoice charges nothing). A renewal is never billed before its
    date, with or without --now. Exits 1 only when the pass itself could not run.
    """
    settings = load_settings_or_exit()
    with running_servers(settings) as ready:
        try:
            result = asyncio.run(_run(ready, ignore_backoff=ignore_backoff))
        except Exception as error:  # noqa: BLE001 - whatever stops the pass, say so and exit 1
            _log.exception("billing.run_failed")
            fail(f"billing failed: {type(error).__name__}", code=EXIT_FAILED)

    def human() -> str:
        counts = result.as_dict()
        head = ", ".join(
            f"{counts[name]} {name}" for name in ("due", "charged", "declined", "postponed")
        )
        return (
            f"{head}, {counts['errors']} errors"
            f" (pending {counts['pending']}, skipped {counts['skipped']},"
            f" resolved {counts['resolved']}, canceled {counts['canceled']},"
            f" expired {counts['expired']})"
        )

    emit(result.as_dict(), as_json=as_json, human=human)


async def _run(settings: Settings, *, ignore_backoff: bool) -> BillingRun:
    clock = SystemClock()

    def progress(invoice_ids: Iterable[str]) -> AbstractContextManager[Iterable[str]]:
        # On stderr: stdout carries only the summary (JSON with --json).
        return click.progressbar(list(invoice_ids), label="charging", file=sys.stderr)

    async with (
        command_sessions(settings) as sessions,
        open_processors(settings, clock) as processors,
    ):
        return await billing_pass(
            sessions,
            clock=clock,
            processors=processors.registry,
            crypto=field_crypto(settings),
            settings=settings,
            ignore_backoff=ignore_backoff,
            progress=progress,
        )
