"""One chaos run, start to finish: servers, the gateway's processes, traffic under
mayhem, a final reconciliation, the ledger audit and its report."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from gateway.core.crypto import generate_key
from gateway.core.faults import FaultPoint
from ops.chaos.audit import AuditReport, audit
from ops.chaos.fleet import Fleet
from ops.chaos.mayhem import Mayhem, Plan, keep_alive, settle_often, sweep_often
from ops.chaos.merchant import CarefulMerchant, ClientLedger
from ops.chaos.servers import ChaosDatabase, RedisServer, chaos_database, free_port
from ops.chaos.traffic import Traffic

# Intervals the run shortens (DESIGN.md: tests never wait on production timings).
LOCK_SECONDS = 5
NOT_FOUND_AFTER_MINUTES = 0.1
# An authorization never captured expires, and a charge whose client walked away
# is compensated, within the run (production: 30 days, 60 minutes).
AUTH_EXPIRY_S = 20.0
_SIMULATOR_HOLDS = 15  # times as long as the gateway: 5 minutes, past any short run
ORPHAN_AFTER_MINUTES = 0.1
_SWEEP_EVERY_S = 2.0
_FINAL_RECONCILE_TIMEOUT_S = 120.0


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


@dataclass(frozen=True)
class ChaosResult:
    seed: int
    seconds: float
    counts: Counter[str]
    mismatches: list[str]
    log_dir: Path | None  # kept when something mismatched or on --keep


def _fault_spec(rate: float) -> str:
    # Half the rate before the call: most kills land where money may have moved.
    rates = {
        FaultPoint.AFTER_RESERVE: rate / 2,
        FaultPoint.AFTER_PROCESSOR_CALL: rate,
        FaultPoint.BEFORE_FINAL_COMMIT: rate,
    }
    return ",".join(f"{point.value}={value}" for point, value in rates.items())


def _environment(
    config: ChaosConfig, database: ChaosDatabase, redis_url: str, run_dir: Path, api_port: int
) -> dict[str, str]:
    metrics_dir = run_dir / "prometheus"
    metrics_dir.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "DATABASE_URL": database.url,
        "REDIS_URL": redis_url,
        "GATEWAY_ENV": "test",
        "GATEWAY_DATA_DIR": str(run_dir),
        "GATEWAY_LOG_JSON": "true",
        "GATEWAY_ENCRYPTION_KEYS": generate_key(),
        "GATEWAY_FINGERPRINT_KEY": os.urandom(32).hex(),
        "GATEWAY_BLIND_INDEX_KEY": os.urandom(32).hex(),
        # Shared by the simulator that signs and the API that verifies.
        "GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS": os.urandom(64).hex().upper(),
        "GATEWAY_FAULT_INJECTION": _fault_spec(config.fault_rate),
        "GATEWAY_IDEMPOTENCY_LOCK_SECONDS": str(LOCK_SECONDS),
        "GATEWAY_AUTH_EXPIRY_DAYS": str(AUTH_EXPIRY_S / 86_400),
        # The simulator holds them longer, so the sweep's voids release real holds even
        # when the workers get to them late (their `maintenance` queue comes last).
        "GATEWAY_SIMULATOR_AUTH_EXPIRY_DAYS": str(_SIMULATOR_HOLDS * AUTH_EXPIRY_S / 86_400),
        "GATEWAY_ORPHAN_POLICY": "void",
        "GATEWAY_ORPHAN_AFTER_MINUTES": str(ORPHAN_AFTER_MINUTES),
        "GATEWAY_RECONCILE_NOT_FOUND_AFTER_MINUTES": str(NOT_FOUND_AFTER_MINUTES),
        "GATEWAY_BREAKER_RESET_S": "1",
        # Long enough to outlast a key locked by a killed request (LOCK_SECONDS) and
        # the reconciliation that follows; short enough to finish within the run.
        "GATEWAY_WEBHOOK_RETRY_SCHEDULE_S": "1,2,4,8,16,32",
        "GATEWAY_PROCESSOR_RETRY_DEADLINE_S": "0.5",
        # The simulator's signed webhooks come back to the API under test, so their
        # processing races the requests and reconciliation, as in production.
        "GATEWAY_PORT": str(api_port),
        "GATEWAY_SIMULATOR_WEBHOOK_URL": f"http://127.0.0.1:{api_port}/api/v1/webhooks/simulator",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }


def _command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "gateway.cli", *arguments, "--json"]


def _operator(environment: dict[str, str]) -> dict[str, str]:
    # Commands an operator runs are not under fault injection.
    return {**environment, "GATEWAY_FAULT_INJECTION": ""}


def _gateway(environment: dict[str, str], *arguments: str) -> dict[str, Any]:
    """Run a `gateway ... --json` command as an operator would; its JSON answer."""
    completed = subprocess.run(  # noqa: S603 - our own command line
        _command(*arguments),
        env=_operator(environment),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"gateway {' '.join(arguments)} failed: {completed.stderr[-2000:]}")
    answer: dict[str, Any] = json.loads(completed.stdout)
    return answer


def _test_key(environment: dict[str, str]) -> str:
    merchant = _gateway(environment, "merchants", "create", "Chaos Merchant")
    issued = _gateway(
        environment,
        "keys", "create", "--merchant", merchant["id"],
        "--scope", "payments:read,payments:write,subscriptions:read,subscriptions:write",
    )  # fmt: skip
    key: str = issued["key"]
    return key


async def _settle(environment: dict[str, str], failures: Counter[str]) -> None:
    """`gateway settle --now`, as the cron job would at the cut-off; it may fail
    while Redis or PostgreSQL is being broken, and the next run catches up."""
    process = await asyncio.create_subprocess_exec(
        *_command("settle", "--now"),
        env=_operator(environment),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    if await process.wait() != 0:
        failures["settlement runs failed"] += 1


async def _count(database: ChaosDatabase, query: str) -> int:
    connection = await asyncpg.connect(database.dsn, timeout=10)
    try:
        count: int = await connection.fetchval(query)
        return count
    finally:
        await connection.close()


PENDING = "SELECT count(*) FROM transactions WHERE status = 'pending'"
# Work the traffic left for the workers: authorizations past their expiry, orphan
# candidates, wall-clock subscriptions (a start seconds away; a renewal a day
# away is not this run's) and invoices whose attempt is due. An invoice whose
# charge request was lost with Redis or a killed worker is requested again only
# after the tick's REQUEST_TIMEOUT (10 minutes): longer than a run, so not waited
# for (the audit checks that it was charged nowhere).
BACKGROUND_WORK = """
    SELECT (SELECT count(*) FROM transactions WHERE status = 'authorized' AND expires_at < now())
         + (SELECT count(*) FROM transactions WHERE orphan_since IS NOT NULL)
         + (SELECT count(*) FROM subscriptions s WHERE test_clock_id IS NULL
              AND status IN ('active', 'trialing', 'past_due')
              AND next_billing_at < now() + interval '1 minute'
              AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.subscription_id = s.id
                              AND i.status IN ('open', 'past_due')))
         + (SELECT count(*) FROM invoices WHERE status IN ('open', 'past_due')
              AND next_attempt_at < now())
"""
# The longest a start or an expiry set during the traffic can be away, and time
# for the workers (killed now and then) to get through it.
_BACKGROUND_TIMEOUT_S = 120.0
# Simulator webhooks not yet accepted by the API, and inbound events not yet processed.
WEBHOOKS_IN_FLIGHT = """
    SELECT (SELECT count(*) FROM simulator_webhooks WHERE delivered_at IS NULL)
         + (SELECT count(*) FROM webhook_events WHERE status IN ('received', 'failed'))
"""
_WEBHOOK_DRAIN_TIMEOUT_S = 90.0


def _drain_webhooks(database: ChaosDatabase) -> int:
    """Let the webhooks the run caused finish (a hang detector's wait); returns how
    many were still in flight when it gave up, a figure of the report."""
    deadline = time.monotonic() + _WEBHOOK_DRAIN_TIMEOUT_S
    while (left := asyncio.run(_count(database, WEBHOOKS_IN_FLIGHT))) and (
        time.monotonic() < deadline
    ):
        time.sleep(1.0)
    return left


async def _background_done(database: ChaosDatabase) -> int:
    """Wait until the workers did the background work (a hang detector's wait);
    returns how much was left when it gave up, a figure of the report."""
    deadline = time.monotonic() + _BACKGROUND_TIMEOUT_S
    while True:
        left = await _count(database, BACKGROUND_WORK)
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(1.0)


def _reconcile_until_settled(environment: dict[str, str], database: ChaosDatabase) -> int:
    """`gateway reconcile --now` until nothing is pending: in-flight keys must first
    outlive their lock, lost calls their not-found window. Returns the passes run."""
    deadline = time.monotonic() + _FINAL_RECONCILE_TIMEOUT_S
    passes = 0
    while asyncio.run(_count(database, PENDING)) and time.monotonic() < deadline:
        _gateway(environment, "reconcile", "--now")
        passes += 1
        time.sleep(1.0)
    return passes


async def _audit(database: ChaosDatabase, ledger: ClientLedger) -> AuditReport:
    # Twice the window a pending transaction may legitimately wait in.
    window = timedelta(seconds=LOCK_SECONDS, minutes=NOT_FOUND_AFTER_MINUTES) * 2
    connection = await asyncpg.connect(database.dsn, timeout=10)
    try:
        return await audit(connection, ledger, pending_since=datetime.now(UTC) - window)
    finally:
        await connection.close()


async def _drive(
    config: ChaosConfig,
    *,
    rng: random.Random,
    fleet: Fleet,
    redis_server: RedisServer,
    database: ChaosDatabase,
    api_key: str,
    environment: dict[str, str],
) -> tuple[Traffic, Mayhem, ClientLedger]:
    ledger = ClientLedger()
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=fleet.api_url, headers=headers, timeout=30) as client:
        merchant = CarefulMerchant(client, ledger, give_up_s=config.give_up_s)
        traffic = Traffic(merchant, rng, config.timeout_rate)
        mayhem = Mayhem(fleet, redis_server, database, rng)
        plan = Plan.for_operations(config.operations)
        stop = asyncio.Event()
        background = [
            asyncio.create_task(
                mayhem.run(plan, lambda: traffic.progress(config.operations), stop)
            ),
            asyncio.create_task(keep_alive(fleet, stop)),
            asyncio.create_task(sweep_often(redis_server.url, _SWEEP_EVERY_S, stop)),
            asyncio.create_task(
                settle_often(lambda: _settle(environment, mayhem.failures), 8.0, stop)
            ),
        ]
        try:
            await traffic.drive(config.operations, config.concurrency)
            # The traffic is done, not what it left to the background: renewals due,
            # authorizations expiring, orphans waiting for compensation. The workers
            # do it (and are killed doing it) before the operator's final passes.
            left = await _background_done(database)
            mayhem.failures["background work left at the end"] = left
        finally:
            stop.set()
            await asyncio.gather(*background)
    return traffic, mayhem, ledger


def run_chaos(config: ChaosConfig) -> ChaosResult:
    seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**31)
    rng = random.Random(seed)  # noqa: S311 - reproducible chaos, not cryptography
    started = time.monotonic()
    run_dir = Path(tempfile.mkdtemp(prefix="gateway-chaos-"))
    redis_server = RedisServer(run_dir / "redis")
    redis_server.start()
    try:
        with chaos_database(config.database_url, config.data_dir, keep=config.keep) as database:
            api_port = free_port()
            environment = _environment(config, database, redis_server.url, run_dir, api_port)
            api_key = _test_key(environment)
            fleet = Fleet(
                environment,
                api_port=api_port,
                workers=config.workers,
                log_dir=run_dir / "logs",
                worker_environment={
                    "GATEWAY_FAULT_INJECTION": _fault_spec(config.worker_fault_rate)
                },
            )
            fleet.start()
            try:
                fleet.wait_until_ready()
                traffic, mayhem, ledger = asyncio.run(
                    _drive(
                        config,
                        rng=rng,
                        fleet=fleet,
                        redis_server=redis_server,
                        database=database,
                        api_key=api_key,
                        environment=environment,
                    )
                )
                fleet.wait_until_ready()
                passes = _reconcile_until_settled(environment, database)
                webhooks_left = _drain_webhooks(database)
            finally:
                fleet.stop()
            report = asyncio.run(_audit(database, ledger))
    finally:
        redis_server.kill()
    counts = _counts(report, traffic, mayhem, ledger, fleet)
    counts["final reconciliation passes"] = passes
    counts["webhooks still in flight at the end"] = webhooks_left
    kept = None
    if report.mismatches or config.keep:
        kept = run_dir  # the processes' logs, to find out what happened
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    return ChaosResult(seed, time.monotonic() - started, counts, report.mismatches, kept)


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
    counts["kills"] = sum(fleet.kills.values()) + sum(fleet.self_kills.values()) + horses
    counts["restarts"] = fleet.restarts
    counts["mismatches"] = len(report.mismatches)
    return counts
