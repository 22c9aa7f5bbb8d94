"""`python -m ops.bench.webhook_workers [--n 600] [--workers 2] [--baseline-n 150]`:
how fast workers process inbound processor webhooks (issue 20 point 4).

On a database and a Redis of its own (ops/chaos/servers.py) it stores N signed
simulator webhooks about N pending charges, as the inbound endpoint would
(`InboxService.receive`), relays them to the `webhooks` queue as cron would, and
runs `gateway worker --burst --pool K` (non-forking workers: one loop, one
engine pool and one Redis pool per worker) until the queue is empty. Then the
same, on fresh events, with RQ's forking `Worker` (one process, a fork and an
engine per job: what `gateway worker` did before). It prints events/s over the
jobs' own start and end times (RQ's), the wall time including process start,
the workers' CPU per event (on a loaded machine the rate says little; the CPU
does), and checks every event was processed exactly once (each charge
`captured`).
Not a test: speed never decides pass or fail (the exactly-once check does).
"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import click
from redis import Redis
from rq.job import Job
from rq.registry import FinishedJobRegistry
from sqlalchemy import select

from gateway.composition.process import api_resources
from gateway.core.ids import new_id
from gateway.core.queues import QUEUE_NAMES, SERIALIZER, rq_queue
from gateway.core.settings import Settings, load_settings
from gateway.merchants.service import MerchantService
from gateway.payments.models import Transaction
from gateway.processors.port import Card, ChargeRequest
from gateway.processors.simulator import Simulator
from gateway.processors.simulator.models import SimulatorTransaction, SimulatorWebhook
from gateway.webhooks.service import InboxService
from gateway.webhooks.signature import sign
from jobs.outbox import relay_outbox
from ops.bench.billing import environment
from ops.chaos.servers import RedisServer, chaos_database

GATEWAY = str(Path(sys.executable).with_name("gateway"))
CARD = "4111111111111111"
_FORKING = (
    "import os, sys; import gateway.models; from redis import Redis; from rq import Worker;"
    " from gateway.core.queues import SERIALIZER;"
    " Worker(['webhooks'], connection=Redis.from_url(os.environ['REDIS_URL']),"
    " serializer=SERIALIZER).work(burst=True)"
)


@dataclass(frozen=True)
class Round:
    name: str
    n: int
    job_seconds: float
    wall_seconds: float
    cpu_seconds: float  # the worker processes' own CPU (user + system), start-up included
    idle_cpu_seconds: float  # the same command's CPU on an empty queue: its start-up
    problems: list[str]

    def line(self) -> str:
        rate = self.n / self.job_seconds if self.job_seconds else float("inf")
        verdict = "exactly once: ok" if not self.problems else "; ".join(self.problems)
        cpu_ms = self.cpu_seconds * 1000 / self.n
        net_ms = max(self.cpu_seconds - self.idle_cpu_seconds, 0.0) * 1000 / self.n
        return (
            f"  {self.name:<32} {self.n:>5} events  {rate:7.1f} events/s"
            f"  (jobs {self.job_seconds:5.1f} s, wall {self.wall_seconds:5.1f} s,"
            f" worker CPU {cpu_ms:5.1f} ms/event, {net_ms:5.1f} net of start-up)  {verdict}"
        )


async def seed(settings: Settings, n: int, key: str) -> list[str]:
    """N pending charges the simulator took, and its signed webhook about each,
    received as the endpoint receives them; the transactions' ids."""
    resources = api_resources(settings)
    references: list[str] = []
    try:
        simulator = resources.processors.test.inner
        assert isinstance(simulator, Simulator)
        async with resources.session_factory() as session:
            merchant = await MerchantService(session, resources.clock).create_merchant("Bench")
            await session.commit()
        for _ in range(n):
            reference = new_id("txn")
            now = resources.clock.now()
            async with resources.session_factory() as session:
                session.add(
                    Transaction(
                        id=reference, merchant_id=merchant.id, livemode=False, type="purchase",
                        status="pending", pending_reason="unknown_outcome", amount=1500,
                        currency="USD", amount_captured=0, amount_refunded=0, metadata_={},
                        processor="simulator", created_at=now, updated_at=now,
                    )
                )  # fmt: skip
                await session.commit()
            card = Card(CARD, 12, now.year + 3, cvv="123")
            await simulator.purchase(
                ChargeRequest(reference=reference, amount=1500, currency="USD", card=card)
            )
            async with resources.session_factory() as session:
                body = await session.scalar(
                    select(SimulatorWebhook.body)
                    .join(
                        SimulatorTransaction,
                        SimulatorTransaction.id == SimulatorWebhook.transaction_id,
                    )
                    .where(SimulatorTransaction.reference == reference)
                )
                assert body is not None
                await InboxService(session, resources.clock).receive(
                    "simulator", body.encode(), sign(body.encode(), key), [key]
                )
                await session.commit()
            references.append(reference)
    finally:
        await resources.aclose()
    return references


async def _fetch(dsn: str, query: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn)
    try:
        return list(await connection.fetch(query))
    finally:
        await connection.close()


async def check(dsn: str, references: list[str]) -> list[str]:
    listed = ",".join(f"'{reference}'" for reference in references)
    problems = []
    [not_captured] = await _fetch(
        dsn,
        f"SELECT count(*) FROM transactions WHERE id IN ({listed}) AND status <> 'captured'",
    )
    if not_captured[0]:
        problems.append(f"{not_captured[0]} charges not captured")
    [unprocessed] = await _fetch(
        dsn, "SELECT count(*) FROM webhook_events WHERE status <> 'processed'"
    )
    if unprocessed[0]:
        problems.append(f"{unprocessed[0]} events not processed")
    return problems


def _relay_only_webhooks(connection: Redis) -> tuple[int, int]:
    """Relay as cron would; keep only the `webhooks` jobs (the simulator's own
    posts and the event fan-out are other benchmarks). The jobs queued and the
    events they carry (a batch job carries several)."""
    asyncio.run(relay_outbox())
    for name in QUEUE_NAMES:
        if name != "webhooks":
            connection.delete(f"rq:queue:{name}")
    jobs = rq_queue("webhooks", connection).jobs
    events = sum(len(job.args[0]) if isinstance(job.args[0], list) else 1 for job in jobs)
    return len(jobs), events


def _job_window(connection: Redis) -> float:
    registry = FinishedJobRegistry("webhooks", connection=connection, serializer=SERIALIZER)
    jobs = Job.fetch_many(registry.get_job_ids(), connection=connection, serializer=SERIALIZER)
    started = [job.started_at for job in jobs if job is not None and job.started_at]
    ended = [job.ended_at for job in jobs if job is not None and job.ended_at]
    return (max(ended) - min(started)).total_seconds() if started and ended else 0.0


def run_round(  # noqa: PLR0917 - one call site per round, read side by side
    name: str, command: list[str], n: int, env: dict[str, str], connection: Redis, dsn: str
) -> Round:
    settings = load_settings()
    idle_cpu = _cpu_of(command, env)  # start-up and shut-down, nothing to do
    key = env["GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS"]
    references = asyncio.run(seed(settings, n, key))
    jobs, queued = _relay_only_webhooks(connection)
    assert queued == n, f"{queued} events queued for {n}"
    click.echo(f"  {name}: {n} events in {jobs} jobs")
    connection.delete(
        FinishedJobRegistry("webhooks", connection=connection, serializer=SERIALIZER).key
    )
    started = time.monotonic()
    cpu = _cpu_of(command, env)
    wall = time.monotonic() - started
    problems = asyncio.run(check(dsn, references))
    return Round(name, n, _job_window(connection), wall, cpu, idle_cpu, problems)


def _cpu_of(command: list[str], env: dict[str, str]) -> float:
    """Run `command` to its end; the CPU its processes used (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, env=env, check=True)  # noqa: S603 - our own command line
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


@click.command()
@click.option("--n", default=600, show_default=True, help="Events for the gateway's workers.")
@click.option("--workers", default=2, show_default=True, help="gateway worker --pool K.")
@click.option(
    "--baseline-n", default=150, show_default=True, help="Events for RQ's forking worker (0: skip)."
)
@click.option(
    "--database-url", envvar="BENCH_DATABASE_URL", help="A server to create the database on."
)
def main(n: int, workers: int, baseline_n: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="gateway-bench-webhooks-") as scratch:
        run_dir = Path(scratch)
        redis = RedisServer(run_dir / "redis")
        redis.start()
        try:
            with chaos_database(database_url, run_dir) as database:
                env = {
                    **environment(database, redis.url, run_dir),
                    "GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS": os.urandom(64).hex().upper(),
                    # The simulator owes webhooks only when it has somewhere to post
                    # them; the bench receives them itself and drops their posts.
                    "GATEWAY_SIMULATOR_WEBHOOK_URL": "http://127.0.0.1:9/unused",
                }
                os.environ.update(env)
                connection = Redis.from_url(redis.url)
                rounds = [
                    run_round(
                        f"gateway worker --pool {workers}",
                        [GATEWAY, "worker", "--burst", "--pool", str(workers)],
                        n,
                        env,
                        connection,
                        database.dsn,
                    )
                ]
                if baseline_n:
                    rounds.append(
                        run_round(
                            "RQ forking Worker (before), 1",
                            [sys.executable, "-c", _FORKING],
                            baseline_n,
                            env,
                            connection,
                            database.dsn,
                        )
                    )
                connection.close()
        finally:
            redis.kill()
    click.echo(f"inbound webhook processing ({os.cpu_count()} CPUs):")
    for done in rounds:
        click.echo(done.line())
    if any(done.problems for done in rounds):
        sys.exit(1)


if __name__ == "__main__":
    main()
