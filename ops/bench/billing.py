"""`python -m ops.bench.billing [--n 100000]`: how fast one billing pass renews N
subscriptions, and proof that each was billed exactly once.

On a database and a Redis of its own (ops/chaos/servers.py), it writes N monthly
subscriptions due now (bulk inserts: the setup is not measured), starts RQ's
worker pool of non-forking workers (ops/bench/pool.py) and enqueues the billing
tick as cron would; the tick opens each due period's invoice, the outbox relay
(nudged as cron would) hands them to `billing` jobs in batches, and the workers
charge them through the money runner against the simulator, its webhooks off.
The clock stops when every invoice is paid. Then it prints subscriptions/s, the
total time, the per-charge latency (phase 1 to phase 3 of each attempt) p50 and
p99, and "gateway time / baseline time": a raw-SQL baseline that inserts the
same rows the pass wrote into empty copies of the same tables and makes as many
row updates per table as the pass made (PostgreSQL's statistics count them), in
the same run; and checks by GROUP BY that every subscription has exactly one
invoice, one transaction and one charge the simulator took. Exits 1 when that check fails.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import asyncpg
import click
from redis import Redis
from rq import Worker
from sqlalchemy import insert

from gateway.audit.service import Actor
from gateway.composition.process import api_resources
from gateway.core.clock import SystemClock
from gateway.core.ids import new_id
from gateway.core.queues import SERIALIZER, nudge_relay, rq_queue
from gateway.core.settings import Settings, load_settings
from gateway.core.tenancy import Owner
from gateway.idempotency.commands import KeyedRequest
from gateway.idempotency.fingerprint import RequestFingerprint
from gateway.idempotency.store import KeyScope
from gateway.merchants.service import MerchantService
from gateway.models import Base
from gateway.subscriptions.models import Subscription
from gateway.vault.commands import VaultCommands
from gateway.vault.schemas import CardIn, NewPaymentMethod
from ops.bench.environment import bench_environment
from ops.bench.processes import cpu_seconds
from ops.chaos.servers import ChaosDatabase, RedisServer, chaos_database

CARD = "4111111111111111"
# Cards to spread the subscriptions over (each a stored payment method).
CARDS = 100
INSERT_CHUNK = 5_000
TICK_TIMEOUT_S = 6 * 3600
STALL_S = 300.0
NUDGE_S = 2.0


@dataclass(frozen=True)
class Figures:
    n: int
    workers: int
    seconds: float
    p50_ms: float
    p99_ms: float
    baseline_s: float
    baseline_rows: int
    problems: list[str]
    worker_cpu_s: float = 0.0  # the pool's processes, over the pass
    transactions: int = 0  # PostgreSQL transactions of the run's database, over the pass
    load: float = field(default_factory=lambda: os.getloadavg()[0])

    @property
    def per_second(self) -> float:
        return self.n / self.seconds

    def report(self) -> str:
        lines = [
            f"billing benchmark: {self.n} subscriptions due, {self.workers} non-forking"
            " workers, simulator webhooks off",
            f"  total time            {self.seconds:.1f} s",
            f"  subscriptions/s       {self.per_second:.1f}",
            f"  worker CPU/renewal    {self.worker_cpu_s * 1000 / self.n:.1f} ms"
            f" ({self.worker_cpu_s:.0f} s over the pass, the pool's processes)",
            f"  PG transactions/renewal {self.transactions / self.n:.1f}",
            f"  charge latency p50    {self.p50_ms:.1f} ms",
            f"  charge latency p99    {self.p99_ms:.1f} ms",
            f"  raw-SQL baseline      {self.baseline_s:.2f} s"
            f" ({self.baseline_rows} rows inserted and updated, as many as the pass)",
            f"  gateway time / baseline time  {self.seconds / self.baseline_s:.1f}",
            f"  load average          {self.load:.2f} on {os.cpu_count()} CPUs (at the end)",
        ]
        if self.problems:
            lines += [f"  EXACTLY-ONCE FAILED: {problem}" for problem in self.problems]
        else:
            lines.append(
                f"  verified: each of {self.n} subscriptions has exactly one invoice (paid),"
                " one transaction and one charge at the simulator"
            )
        return "\n".join(lines)


def environment(database: ChaosDatabase, redis_url: str, run_dir: Path) -> dict[str, str]:
    return bench_environment(database.url, redis_url, run_dir)


async def seed(settings: Settings, n: int) -> None:
    """A merchant, CARDS stored cards (through the vault, so the simulator knows
    them) and N active monthly subscriptions whose next period is due now."""
    resources = api_resources(settings)
    try:
        async with resources.session_factory() as session:
            merchant = await MerchantService(session, resources.clock).create_merchant("Bench")
            await session.commit()
        owner = Owner(merchant.id, False)
        vault = VaultCommands(
            resources,
            settings,
            owner=owner,
            actor=Actor(kind="api"),
            processor=resources.processors.for_mode(False),
        )
        methods = []
        for number in range(min(CARDS, n)):
            card = CardIn(
                number=CARD, exp_month=12, exp_year=SystemClock().now().year + 5, cvv="123"
            )
            keyed = KeyedRequest(
                scope=KeyScope(merchant_id=merchant.id, livemode=False, key=f"pm-{number}"),
                fingerprint=RequestFingerprint(current=f"v2:pm-{number}", legacy=""),
            )
            stored = await vault.create(NewPaymentMethod(card=card), keyed)
            methods.append(stored.response.body.split(b'"id":"')[1].split(b'"')[0].decode())
        due = SystemClock().now() - timedelta(minutes=1)
        previous = due - timedelta(days=31)
        rows = (
            {
                "id": new_id("sub"),
                "merchant_id": merchant.id,
                "livemode": False,
                "status": "active",
                "customer_id": f"cus_{number}",
                "payment_method_id": methods[number % len(methods)],
                "amount": 1500,
                "currency": "USD",
                "interval": "month",
                "interval_count": 1,
                "billing_anchor": due,
                "current_period_start": previous,
                "current_period_end": due,
                "next_billing_at": due,
                "cycles_billed": 1,
                "cancel_at_period_end": False,
                "failed_attempts": 0,
                "metadata_": {},
                "created_at": previous,
                "updated_at": previous,
            }
            for number in range(n)
        )
        while chunk := list(itertools.islice(rows, INSERT_CHUNK)):
            async with resources.session_factory() as session:
                await session.execute(insert(Subscription), chunk)
                await session.commit()
    finally:
        await resources.aclose()


async def _fetch(dsn: str, query: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn)
    try:
        return list(await connection.fetch(query))
    finally:
        await connection.close()


async def table_counts(dsn: str) -> dict[str, int]:
    names = [table.name for table in Base.metadata.sorted_tables]
    query = " UNION ALL ".join(f"SELECT '{name}', count(*) FROM \"{name}\"" for name in names)
    return {row[0]: int(row[1]) for row in await _fetch(dsn, query)}


@dataclass(frozen=True)
class Pass:
    seconds: float
    worker_cpu_s: float
    transactions: int


def run_pass(environ: dict[str, str], redis_url: str, dsn: str, n: int, workers: int) -> Pass:
    """Start the pool, enqueue the tick, nudge the relay until every invoice is paid;
    the workers' CPU and the database's transactions over the pass are counted."""
    connection = Redis.from_url(redis_url)
    log = Path(environ["GATEWAY_DATA_DIR"]) / "workers.log"
    with log.open("ab") as output:
        pool = subprocess.Popen(  # noqa: S603 - our own module
            [sys.executable, "-m", "ops.bench.pool", "--workers", str(workers)],
            env=environ,
            stdout=output,
            stderr=output,
            start_new_session=True,  # its own process group: stopped whole at the end
        )
    try:
        deadline = time.monotonic() + 60
        while len(Worker.all(connection=connection, serializer=SERIALIZER)) < workers:
            if time.monotonic() > deadline or pool.poll() is not None:
                raise RuntimeError(f"the worker pool did not start (see {log})")
            time.sleep(0.1)
        cpu_before = cpu_seconds(pool.pid)
        transactions_before = asyncio.run(_transactions(dsn))
        started = time.monotonic()
        rq_queue("billing", connection).enqueue(
            "jobs.billing.billing_tick", job_timeout=TICK_TIMEOUT_S
        )
        paid, last_change, shown, nudged = 0, started, -1.0, -1.0
        while paid < n:
            time.sleep(0.25)
            if time.monotonic() - nudged >= NUDGE_S:
                # As cron's relay tick would, more often; not so often that relay
                # jobs keep a worker from charging.
                nudge_relay(redis_url)
                nudged = time.monotonic()
            now_paid = asyncio.run(_paid(dsn))
            if now_paid != paid:
                paid, last_change = now_paid, time.monotonic()
            elif time.monotonic() - last_change > STALL_S:
                raise RuntimeError(f"no progress for {STALL_S:.0f} s at {paid}/{n} (see {log})")
            if time.monotonic() - shown >= 5:
                shown = time.monotonic()
                elapsed = shown - started
                click.echo(f"  {elapsed:6.1f} s  {paid}/{n} paid", err=True)
        seconds = time.monotonic() - started
        return Pass(
            seconds=seconds,
            worker_cpu_s=cpu_seconds(pool.pid) - cpu_before,
            transactions=asyncio.run(_transactions(dsn)) - transactions_before,
        )
    finally:
        _stop(pool)
        connection.close()


def _stop(pool: subprocess.Popen[bytes]) -> None:
    """The pool and its workers (a worker in a job finishes it first, if it can)."""
    os.killpg(pool.pid, signal.SIGTERM)
    try:
        pool.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(pool.pid, signal.SIGKILL)
        pool.wait()


async def _transactions(dsn: str) -> int:
    """Commits and rollbacks of this database so far (its own statistics)."""
    [row] = await _fetch(
        dsn,
        "SELECT xact_commit + xact_rollback FROM pg_stat_database"
        " WHERE datname = current_database()",
    )
    return int(row[0])


async def _paid(dsn: str) -> int:
    [row] = await _fetch(dsn, "SELECT count(*) FROM invoices WHERE status = 'paid'")
    return int(row[0])


async def latencies(dsn: str) -> tuple[float, float]:
    """Phase 1 (the attempt written) to phase 3 (the invoice paid), per charge."""
    [row] = await _fetch(
        dsn,
        "SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP"
        " (ORDER BY extract(epoch FROM i.paid_at - a.attempted_at))"
        " FROM invoice_attempts a JOIN invoices i ON i.id = a.invoice_id",
    )
    p50, p99 = row[0]
    return p50 * 1000, p99 * 1000


async def row_updates(dsn: str) -> dict[str, int]:
    """Rows updated so far, per table (PostgreSQL's statistics: read after the
    workers have gone, which flushes theirs)."""
    names = {table.name for table in Base.metadata.sorted_tables}
    rows = await _fetch(
        dsn, "SELECT relname, n_tup_upd FROM pg_stat_user_tables WHERE schemaname = 'public'"
    )
    return {row[0]: int(row[1]) for row in rows if row[0] in names}


async def baseline(dsn: str, grown: list[str], updated: dict[str, int]) -> tuple[float, int]:
    """The same writes the pass made, by plain set-based SQL, timed: the rows it
    inserted, inserted again into empty copies of the same tables (same columns
    and indexes), and as many row updates per table as it made (each a new row
    version, as the pass's were)."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("CREATE SCHEMA bench_baseline")
        tables = [*grown, *(name for name in updated if name not in grown)]
        for name in tables:
            await connection.execute(
                f'CREATE TABLE bench_baseline."{name}" (LIKE public."{name}" INCLUDING ALL)'
            )
        for name in tables:
            if name not in grown:  # rows to update, not to time inserting
                await _copy(connection, name)
        started = time.monotonic()
        rows = 0
        async with connection.transaction():
            for name in grown:
                rows += await _copy(connection, name)
            for name, count in updated.items():
                rows += await _update(connection, name, count)
        elapsed = time.monotonic() - started
        await connection.execute("DROP SCHEMA bench_baseline CASCADE")
        return elapsed, rows
    finally:
        await connection.close()


async def _copy(connection: asyncpg.Connection, name: str) -> int:
    status = await connection.execute(
        f'INSERT INTO bench_baseline."{name}" OVERRIDING SYSTEM VALUE SELECT * FROM public."{name}"'
    )
    return int(status.rsplit(" ", 1)[1])


async def _update(connection: asyncpg.Connection, name: str, count: int) -> int:
    """`count` row updates on the copy of `name`, in rounds over its rows."""
    done = 0
    while done < count:
        status = await connection.execute(
            f'UPDATE bench_baseline."{name}" SET id = id WHERE ctid = ANY(ARRAY('
            f'SELECT ctid FROM bench_baseline."{name}" LIMIT $1))',
            count - done,
        )
        updated = int(status.rsplit(" ", 1)[1])
        if updated == 0:
            break
        done += updated
    return done


async def verify(dsn: str, n: int) -> list[str]:
    """Exactly once, by GROUP BY: each subscription one invoice (paid) for the new
    period, one attempt, one transaction, one charge the simulator took."""
    checks = {
        "subscriptions without exactly one invoice": (
            "SELECT count(*) FROM (SELECT s.id FROM subscriptions s"
            " LEFT JOIN invoices i ON i.subscription_id = s.id"
            " GROUP BY s.id HAVING count(i.id) <> 1) AS wrong"
        ),
        "periods billed more than once": (
            "SELECT count(*) FROM (SELECT subscription_id, period_start FROM invoices"
            " GROUP BY subscription_id, period_start HAVING count(*) > 1) AS wrong"
        ),
        "invoices not paid": "SELECT count(*) FROM invoices WHERE status <> 'paid'",
        "invoices without exactly one attempt": (
            "SELECT count(*) FROM (SELECT i.id FROM invoices i"
            " LEFT JOIN invoice_attempts a ON a.invoice_id = i.id"
            " GROUP BY i.id HAVING count(a.id) <> 1) AS wrong"
        ),
        "subscriptions without exactly one transaction": (
            "SELECT count(*) FROM (SELECT s.id FROM subscriptions s"
            " LEFT JOIN transactions t ON t.subscription_id = s.id"
            " GROUP BY s.id HAVING count(t.id) <> 1) AS wrong"
        ),
        "transactions the simulator did not take exactly once": (
            "SELECT count(*) FROM (SELECT t.id FROM transactions t"
            " LEFT JOIN simulator_requests r ON r.reference = t.id"
            " GROUP BY t.id HAVING count(r.reference) <> 1) AS wrong"
        ),
        "subscriptions not renewed once": (
            "SELECT count(*) FROM subscriptions WHERE status <> 'active' OR cycles_billed <> 2"
        ),
    }
    problems = []
    for name, query in checks.items():
        [row] = await _fetch(dsn, query)
        if row[0]:
            problems.append(f"{row[0]} {name}")
    [total] = await _fetch(dsn, "SELECT count(*) FROM invoices")
    if total[0] != n:
        problems.append(f"{total[0]} invoices for {n} subscriptions")
    return problems


def run_benchmark(n: int, workers: int, database_url: str | None, keep: bool) -> Figures:
    run_dir = (Path(".gateway-data") / "bench" / time.strftime("%Y%m%d-%H%M%S")).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    redis_server = RedisServer(run_dir / "redis")
    redis_server.start()
    try:
        with chaos_database(database_url, Path(".gateway-data"), keep=keep) as database:
            environ = environment(database, redis_server.url, run_dir)
            settings = load_settings(environ)
            click.echo(f"seeding {n} subscriptions in {database.name}...", err=True)
            asyncio.run(seed(settings, n))
            before = asyncio.run(table_counts(database.dsn))
            updates_before = asyncio.run(row_updates(database.dsn))
            click.echo(f"billing with {workers} workers...", err=True)
            billed = run_pass(environ, redis_server.url, database.dsn, n, workers)
            after = asyncio.run(table_counts(database.dsn))
            grown = [name for name in after if after[name] > before[name]]
            time.sleep(1.5)  # the workers' statistics flushed (at most a second late)
            updates_after = asyncio.run(row_updates(database.dsn))
            updated = {
                name: updates_after[name] - updates_before.get(name, 0)
                for name in updates_after
                if updates_after[name] > updates_before.get(name, 0)
            }
            p50, p99 = asyncio.run(latencies(database.dsn))
            baseline_s, baseline_rows = asyncio.run(baseline(database.dsn, grown, updated))
            problems = asyncio.run(verify(database.dsn, n))
    finally:
        redis_server.kill()
    return Figures(
        n=n,
        workers=workers,
        seconds=billed.seconds,
        worker_cpu_s=billed.worker_cpu_s,
        transactions=billed.transactions,
        p50_ms=p50,
        p99_ms=p99,
        baseline_s=baseline_s,
        baseline_rows=baseline_rows,
        problems=problems,
    )


@click.command()
@click.option("--n", default=100_000, show_default=True, help="Subscriptions due.")
@click.option("--workers", default=3, show_default=True, help="Non-forking RQ workers.")
@click.option(
    "--database-url",
    envvar="BENCH_DATABASE_URL",
    help="A PostgreSQL server (postgresql+asyncpg://...) to create the run's database on;"
    " default: the embedded PostgreSQL under ./.gateway-data/.",
)
@click.option("--keep", is_flag=True, help="Keep the run's database for inspection.")
def main(n: int, workers: int, database_url: str | None, keep: bool) -> None:
    """Renew N subscriptions in one billing pass; print the figures; check exactly-once."""
    figures = run_benchmark(n, workers, database_url, keep)
    click.echo(figures.report())
    sys.exit(1 if figures.problems else 0)


if __name__ == "__main__":
    main()
