"""`python -m ops.chaos`: one chaos run; exits 1 on any ledger mismatch."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import structlog

from ops.chaos.run import ChaosConfig, ChaosResult, Processor, run_chaos


def _print(result: ChaosResult) -> None:
    kept = f", logs in {result.log_dir}" if result.log_dir else ""
    click.echo(f"chaos run: seed {result.seed}, {result.seconds:.1f}s{kept}")
    width = max(len(name) for name in result.counts)
    for name, value in sorted(result.counts.items()):
        click.echo(f"  {name:<{width}}  {value}")
    for note in result.notes:
        click.echo(f"note: {note}")
    for mismatch in result.mismatches:
        click.echo(f"MISMATCH {mismatch}")
    click.echo(f"mismatches: {len(result.mismatches)}")


@click.command()
@click.option("--operations", "-n", default=1000, show_default=True, help="Requests to drive.")
@click.option("--concurrency", default=8, show_default=True, help="Merchants at once.")
@click.option("--workers", default=2, show_default=True, help="RQ worker processes.")
@click.option("--seed", type=int, help="Random seed, to replay a run (default: random).")
@click.option("--timeout-rate", default=0.1, show_default=True, help="Share of 901/902 charges.")
@click.option("--fault-rate", default=0.01, show_default=True, help="API self-kill rate per point.")
@click.option(
    "--worker-fault-rate",
    default=0.05,
    show_default=True,
    help="Workers' self-kill rate per point (renewals, sweep voids, reconciliation).",
)
@click.option(
    "--give-up-s",
    default=60.0,
    show_default=True,
    help="How long a merchant retries one request, or replays a 202, before it stops"
    " waiting (the final reconciliation decides what it left pending).",
)
@click.option(
    "--database-url",
    envvar="CHAOS_DATABASE_URL",
    help="A PostgreSQL server (postgresql+asyncpg://...) to create the run's database on;"
    " default: the embedded PostgreSQL under ./.gateway-data/.",
)
@click.option(
    "--processor",
    type=click.Choice(["simulator", "authorize_net"]),
    default="simulator",
    show_default=True,
    help="simulator: test keys, the in-process simulator. authorize_net: live keys, the"
    " Authorize.Net connector over HTTP to a `gateway sandbox serve` of the run's own"
    " (restarted by the mayhem too), audited against the sandbox's ledger.",
)
@click.option("--keep", is_flag=True, help="Keep the run's databases and logs for inspection.")
def main(
    *,
    operations: int,
    concurrency: int,
    workers: int,
    seed: int | None,
    timeout_rate: float,
    fault_rate: float,
    worker_fault_rate: float,
    give_up_s: float,
    database_url: str | None,
    processor: Processor,
    keep: bool,
) -> None:
    """Drive payments through the real API, workers and cron while killing them,
    restarting Redis and dropping database connections; then audit the ledgers."""
    # What the run does goes to stderr; the report alone to stdout.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    result = run_chaos(
        ChaosConfig(
            operations=operations,
            concurrency=concurrency,
            workers=workers,
            seed=seed,
            timeout_rate=timeout_rate,
            fault_rate=fault_rate,
            worker_fault_rate=worker_fault_rate,
            give_up_s=give_up_s,
            database_url=database_url,
            data_dir=Path(".gateway-data"),
            keep=keep,
            processor=processor,
        )
    )
    _print(result)
    sys.exit(1 if result.mismatches else 0)


if __name__ == "__main__":
    main()
