"""`gateway billing run`: one billing pass in the foreground."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass

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
from gateway.core.clock import SystemClock
from gateway.core.db import create_engine, create_session_factory
from gateway.core.resources import field_crypto
from gateway.core.settings import Settings
from gateway.processors.standalone import open_processors
from gateway.subscriptions.billing import ChargeSummary, InvoiceCharger
from gateway.subscriptions.tick import BillingTick, TickSummary

_log = structlog.get_logger("gateway.cli")


@dataclass(frozen=True)
class BillingRun:
    due: int
    tick: TickSummary
    charges: ChargeSummary

    def as_dict(self) -> dict[str, int]:
        charges = self.charges
        return {
            "due": self.due,
            "charged": charges.charged,
            "declined": charges.declined,
            "postponed": charges.postponed,
            "errors": charges.errors,
            "pending": charges.pending,
            "skipped": charges.skipped,
            "resolved": self.tick.resolved,
            "canceled": self.tick.canceled,
            "expired": self.tick.expired,
        }


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
    assert settings.database.url is not None
    clock = SystemClock()
    crypto = field_crypto(settings)
    engine = create_engine(settings.database, url=settings.database.url, pooled=False)
    sessions = create_session_factory(engine)
    try:
        tick = BillingTick(sessions, clock=clock, crypto=crypto, billing=settings.billing)
        requested = await tick.run(ignore_backoff=ignore_backoff)
        async with open_processors(settings, clock) as processors:
            charger = InvoiceCharger(
                sessions,
                clock=clock,
                processors=processors.registry,
                crypto=crypto,
                settings=settings,
            )
            charges = ChargeSummary()
            invoice_ids = list(dict.fromkeys(requested.requested))
            # On stderr: stdout carries only the summary (JSON with --json).
            with click.progressbar(invoice_ids, label="charging", file=sys.stderr) as bar:
                for invoice_id in bar:
                    charges.count(await charger.charge_safely(invoice_id))
        return BillingRun(due=len(invoice_ids), tick=requested.summary, charges=charges)
    finally:
        await engine.dispose()
