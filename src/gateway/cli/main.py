"""The command group; each subcommand lives in its own module."""

from __future__ import annotations

import click

from gateway.cli.admin import keys, merchants
from gateway.cli.billing import billing
from gateway.cli.clock import clock
from gateway.cli.crypto import crypto
from gateway.cli.jobs import jobs
from gateway.cli.operators import operators
from gateway.cli.pci_scan import pci_scan
from gateway.cli.processes import cron, dashboard, healthcheck, migrate, serve, worker
from gateway.cli.processors import processors
from gateway.cli.reconcile import reconcile
from gateway.cli.report import report
from gateway.cli.sandbox import sandbox
from gateway.cli.simulator import settle, simulator
from gateway.cli.up import up
from gateway.cli.webhook_endpoints import deliveries, webhook_endpoints
from gateway.cli.webhooks import webhooks


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def main() -> None:
    """Run and operate the payment gateway.

    Start here: `gateway up` runs everything locally (embedded PostgreSQL and
    Redis, the API, a worker, cron and the RQ dashboard) and prints a test API
    key. Settings come from the environment (see .env.example); with no
    DATABASE_URL / REDIS_URL, commands that need them start the embedded servers
    under ./.gateway-data/.

    Exit codes: 0 success, 1 a failed check or an unknown id, 2 usage errors.
    """


for command in (
    up,
    serve,
    worker,
    cron,
    dashboard,
    migrate,
    healthcheck,
    merchants,
    keys,
    crypto,
    settle,
    reconcile,
    billing,
    clock,
    simulator,
    processors,
    sandbox,
    pci_scan,
    webhooks,
    webhook_endpoints,
    deliveries,
    jobs,
    operators,
    report,
):
    main.add_command(command)
