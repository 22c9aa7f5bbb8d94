"""One chaos run, start to finish: servers, the gateway's processes (and, over
the wire, the sandbox), traffic under mayhem, a final reconciliation, the
ledger audit and its report."""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import asyncpg
import httpx
import structlog

from ops.chaos import environment as settings
from ops.chaos import operator
from ops.chaos.audit import AuditReport, audit
from ops.chaos.fleet import Fleet
from ops.chaos.mayhem import Mayhem, Plan, keep_alive, settle_often, sweep_often
from ops.chaos.merchant import CarefulMerchant, ClientLedger
from ops.chaos.servers import ChaosDatabase, RedisServer, chaos_database, free_port
from ops.chaos.shadow import shadow_ledger
from ops.chaos.traffic import Traffic
from ops.chaos.waits import (
    EVENTS_IN_FLIGHT,
    SIMULATOR_WEBHOOKS_UNSENT,
    Counting,
    background_done,
    counting,
    drain_webhooks,
    reconcile_until_settled,
    summed,
)
from ops.chaos.wire import LIVE_LIMITS, SANDBOX, Wire, wire

Processor = Literal["simulator", "authorize_net"]

_log = structlog.get_logger("chaos")


@dataclass(frozen=True)
class ChaosConfig:
    operations: int = 1000
    concurrency: int = 8
    seed: int | None = None
    workers: int = 2
    timeout_rate: float = 0.1
    # Probability, per request, that the API kills itself at each fault point.
    fault_rate: float = 0.01
    # The same per money movement of a worker (renewals, sweep voids, reconciliation).
    worker_fault_rate: float = 0.05
    database_url: str | None = None  # a server to create the run's database on
    data_dir: Path = Path(".gateway-data")
    keep: bool = False
    give_up_s: float = 60.0
    # `simulator`: test keys, the in-process simulator. `authorize_net`: live keys,
    # the connector over HTTP to a `gateway sandbox serve` of the run's own.
    processor: Processor = "simulator"


@dataclass(frozen=True)
class ChaosResult:
    seed: int
    seconds: float
    counts: Counter[str]
    mismatches: list[str]
    log_dir: Path | None  # kept when something mismatched or on --keep
    notes: list[str] = field(default_factory=list)  # what the run left out, and why


@dataclass(frozen=True)
class _Run:
    """What the traffic and the final passes work with."""

    config: ChaosConfig
    fleet: Fleet
    redis_server: RedisServer
    database: ChaosDatabase
    environment: dict[str, str]
    wire: Wire | None  # None: the in-process simulator

    def webhooks_in_flight(self) -> Counting:
        if self.wire is not None:
            return self.wire.webhooks_in_flight(self.database.dsn)
        return summed(
            counting(self.database.dsn, SIMULATOR_WEBHOOKS_UNSENT),
            counting(self.database.dsn, EVENTS_IN_FLIGHT),
        )


async def _audit(run: _Run, ledger: ClientLedger) -> tuple[AuditReport, int]:
    """The audit on the gateway's database; over the wire, against the sandbox's
    ledger (`shadow.py`). Returns the report and the processor rows copied."""
    # Twice the window a pending transaction may legitimately wait in.
    window = timedelta(seconds=settings.LOCK_SECONDS, minutes=settings.NOT_FOUND_AFTER_MINUTES)
    connection = await asyncpg.connect(run.database.dsn, timeout=10)
    try:
        copied = 0 if run.wire is None else await shadow_ledger(connection, run.wire.database.dsn)
        report = await audit(connection, ledger, pending_since=datetime.now(UTC) - 2 * window)
        return report, copied
    finally:
        await connection.close()


async def _drive(
    run: _Run, rng: random.Random, api_key: str
) -> tuple[Traffic, Mayhem, ClientLedger]:
    config, fleet = run.config, run.fleet
    ledger = ClientLedger()
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=fleet.api_url, headers=headers, timeout=30) as client:
        merchant = CarefulMerchant(client, ledger, give_up_s=config.give_up_s)
        traffic = Traffic(merchant, rng, config.timeout_rate, live=run.wire is not None)
        mayhem = Mayhem(fleet, run.redis_server, run.database, rng)
        if run.wire is not None:
            mayhem.sandbox, mayhem.sandbox_database = SANDBOX, run.wire.database
        plan = Plan.for_operations(config.operations, sandbox=run.wire is not None)

        async def settle() -> None:
            # Over the wire the processor's batch comes first, as its cut-off does.
            if run.wire is not None and not await run.wire.settle_batch():
                mayhem.failures["settlement runs failed"] += 1
                return
            await operator.settle(run.environment, mayhem.failures)

        stop = asyncio.Event()
        background = [
            asyncio.create_task(
                mayhem.run(plan, lambda: traffic.progress(config.operations), stop)
            ),
            asyncio.create_task(keep_alive(fleet, stop)),
            asyncio.create_task(sweep_often(run.redis_server.url, settings.SWEEP_EVERY_S, stop)),
            asyncio.create_task(settle_often(settle, settings.SETTLE_EVERY_S, stop)),
        ]
        try:
            await traffic.drive(config.operations, config.concurrency)
            _log.info("chaos.phase", done="traffic")
            # The traffic is done, not what it left to the background: renewals due,
            # authorizations expiring, orphans waiting for compensation. The workers
            # do it (and are killed doing it) before the operator's final passes.
            left = await background_done(run.database.dsn)
            mayhem.failures["background work left at the end"] = left
        finally:
            stop.set()
            await asyncio.gather(*background)
    return traffic, mayhem, ledger


@contextlib.contextmanager
def _processor(config: ChaosConfig, database: ChaosDatabase) -> Iterator[Wire | None]:
    if config.processor == "simulator":
        yield None
        return
    with wire(database, keep=config.keep) as over_the_wire:
        yield over_the_wire


def _fleet(
    config: ChaosConfig,
    environment: dict[str, str],
    *,
    api_port: int,
    log_dir: Path,
    over_the_wire: Wire | None,
) -> Fleet:
    return Fleet(
        environment,
        api_port=api_port,
        workers=config.workers,
        log_dir=log_dir,
        worker_environment={
            "GATEWAY_FAULT_INJECTION": settings.fault_spec(config.worker_fault_rate)
        },
        others=[] if over_the_wire is None else [over_the_wire.child()],
        probes=[] if over_the_wire is None else [over_the_wire.answers],
    )


def run_chaos(config: ChaosConfig) -> ChaosResult:
    seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**31)
    rng = random.Random(seed)  # noqa: S311 - reproducible chaos, not cryptography
    started = time.monotonic()
    run_dir = Path(tempfile.mkdtemp(prefix="gateway-chaos-"))
    redis_server = RedisServer(run_dir / "redis")
    redis_server.start()
    extra: Counter[str] = Counter()
    try:
        with (
            chaos_database(config.database_url, config.data_dir, keep=config.keep) as database,
            _processor(config, database) as over_the_wire,
        ):
            api_port = free_port()
            environment = settings.environment(
                fault_rate=config.fault_rate,
                database=database,
                redis_url=redis_server.url,
                run_dir=run_dir,
                api_port=api_port,
            )
            if over_the_wire is not None:
                signature_key = environment["GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS"]
                environment |= over_the_wire.environment(api_port, signature_key)
            fleet = _fleet(
                config,
                environment,
                api_port=api_port,
                log_dir=run_dir / "logs",
                over_the_wire=over_the_wire,
            )
            run = _Run(config, fleet, redis_server, database, environment, over_the_wire)
            fleet.start()
            try:
                # While the processes start: the key needs only the database.
                api_key = operator.merchant_key(environment, live=over_the_wire is not None)
                fleet.wait_until_ready()
                _log.info("chaos.phase", done="start-up")
                traffic, mayhem, ledger = asyncio.run(_drive(run, rng, api_key))
                _log.info("chaos.phase", done="background work")
                fleet.wait_until_ready()
                extra["final reconciliation passes"] = reconcile_until_settled(
                    environment, database.dsn
                )
                extra["webhooks still in flight at the end"] = drain_webhooks(
                    run.webhooks_in_flight()
                )
                _log.info("chaos.phase", done="final reconciliation and webhooks")
                if over_the_wire is not None:
                    retrying = asyncio.run(over_the_wire.webhooks_retrying()())
                    extra["sandbox webhooks waiting for a retry (minutes away)"] = retrying
            finally:
                fleet.stop()
            report, copied = asyncio.run(_audit(run, ledger))
            if over_the_wire is not None:
                extra["sandbox ledger rows audited"] = copied
    finally:
        redis_server.kill()
    counts = _counts(report, traffic, mayhem, ledger, fleet)
    counts.update(extra)  # zeros kept: a figure of the report
    kept = None
    if report.mismatches or config.keep:
        kept = run_dir  # the processes' logs, to find out what happened
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    notes = [] if config.processor == "simulator" else [LIVE_LIMITS]
    seconds = time.monotonic() - started
    return ChaosResult(seed, seconds, counts, report.mismatches, kept, notes)


def _counts(
    report: AuditReport, traffic: Traffic, mayhem: Mayhem, ledger: ClientLedger, fleet: Fleet
) -> Counter[str]:
    counts: Counter[str] = Counter(report.counts)
    counts["operations"] = traffic.operations
    counts["flows"] = traffic.tally.flows
    counts["requests"] = ledger.requests
    counts["over-refunds refused"] = traffic.tally.over_refunds_refused
    for kind, n in traffic.tally.refunds.items():
        counts[f"refunds asked {kind}"] = n
    counts.update(mayhem.failures)
    counts["merchant gave up waiting"] = ledger.gave_up
    for kind, n in traffic.tally.timeouts.items():
        counts[f"timeouts {kind}"] = n
    for kind, n in traffic.tally.walked_away.items():
        counts[f"walked away {kind}"] = n
    counts.update(traffic.subscribers.tally)
    counts["retries"] = sum(ledger.retries.values())
    for reason, n in ledger.retries.items():
        counts[f"retries: {reason}"] = n
    for action, n in mayhem.done.items():
        counts[action.value] = n
    for kind, n in fleet.self_kills.items():
        counts[f"kill {kind} (fault hook)"] = n
    for kind, n in fleet.faults_injected().items():
        counts[f"fault hook fired in {kind}"] = n
    for kind, n in fleet.crashes.items():
        counts[f"{kind} exited on its own"] = n
    # Work horses the hook killed in workers are not processes the fleet sees exit.
    horses = fleet.faults_injected()["worker"]
    # The gateway's own processes; the sandbox's restarts are counted on their own.
    planned = sum(n for kind, n in fleet.kills.items() if kind != SANDBOX)
    counts["kills"] = planned + sum(fleet.self_kills.values()) + horses
    counts["restarts"] = fleet.restarts
    counts["mismatches"] = len(report.mismatches)
    return counts
