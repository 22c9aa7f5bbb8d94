"""`gateway report settlement`: the settlement reconciliation report."""

from __future__ import annotations

import os
import sys
from datetime import date

import click
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.cli.common import (
    EXIT_FAILED,
    load_settings_or_exit,
    run_in_session,
    running_servers,
)
from gateway.cli.local_sandbox import with_local_sandbox
from gateway.composition.process import open_processors
from gateway.core.clock import Clock
from gateway.core.ids import is_id
from gateway.core.settings import parse_cutoff
from gateway.payments.settlement_sync import reporting_processors
from gateway.reports.settlement import SettlementReport, SettlementReportService, parse_batch_date
from gateway.reports.settlement.formats import as_csv, as_json


def _batch_date(_context: click.Context, _parameter: click.Parameter, value: str) -> date:
    try:
        return parse_batch_date(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def _merchant_id(
    _context: click.Context, _parameter: click.Parameter, value: str | None
) -> str | None:
    if value is not None and not is_id(value, "mer"):
        raise click.BadParameter(f"{value!r} is not a merchant id (mer_...)")
    return value


@click.group()
def report() -> None:
    """Reports over the gateway's ledger."""


@report.command()
@click.option(
    "--date",
    "day",
    required=True,
    metavar="YYYY-MM-DD",
    callback=_batch_date,
    help="The batch date, in the zone of GATEWAY_SETTLEMENT_CUTOFF.",
)
@click.option(
    "--merchant", "merchant_id", metavar="ID", callback=_merchant_id, help="One merchant only."
)
@click.option(
    "--format",
    "output",
    type=click.Choice(["csv", "json"]),
    default="csv",
    show_default=True,
    help="CSV: one row per record; JSON: one object.",
)
def settlement(day: date, merchant_id: str | None, output: str) -> None:
    """Reconcile one batch date: our ledger against the processors' settled batches.

    Per merchant: the day's captures, refunds and voids (from the previous
    day's cut-off to this one's), the settled amounts per batch and currency on
    each side (batches matched by id, integer minor units), and every
    transaction the two sides disagree on. Settled transactions no merchant of
    ours owns are listed under an empty merchant id, in every report.

    Exits 0 when the ledger and the processors agree, 1 when they differ or a
    processor could not be asked, 2 on a usage error.
    """
    settings = with_local_sandbox(os.environ, load_settings_or_exit())
    cutoff = parse_cutoff(settings.payments.settlement_cutoff)
    with running_servers(settings) as ready:

        async def work(session: AsyncSession, clock: Clock) -> SettlementReport:
            async with open_processors(ready, clock) as processors:
                service = SettlementReportService(
                    session, reporting_processors(processors.registry), cutoff=cutoff
                )
                return await service.report(day, merchant_id=merchant_id)

        result = run_in_session(ready, work)
    click.echo(as_json(result) if output == "json" else as_csv(result), nl=output == "json")
    if not result.agrees:
        problems = sum(len(section.differences) for section in result.merchants)
        unreachable = "".join(f"; {name} could not be asked" for name in result.unreachable)
        click.echo(
            f"gateway: the ledger and the processors' settled batches differ:"
            f" {problems} difference(s){unreachable}",
            err=True,
        )
        sys.exit(EXIT_FAILED)
