"""`python -m ops.bench.deliveries [--n 10000]`: how fast committed events reach a
merchant's endpoint as signed webhooks, and proof that each arrives once.

On a database and a Redis of its own (ops/chaos/servers.py), it registers an
endpoint subscribed to every event for one merchant, pointed at a receiver in
this process (uvicorn on 127.0.0.1) that verifies every request with the
`standardwebhooks` package (an implementation no one here wrote) and notes when
each `webhook-id` arrived. It then commits N history events in chunks, as a
busy API would (each a purchase that was captured; the transactions are bulk
inserted, the setup is not measured), nudging the outbox relay after each
commit as the API does; RQ's worker pool of non-forking workers (ops/bench/
pool.py) runs the relay, its fan-out into deliveries and the delivery sweeps.

It prints deliveries/s, the time from each event's commit to its receipt (p50,
p99), the duplicates received (must be 0) and the signatures that failed to
verify (must be 0), and the ratio to a baseline measured in the same run: the
same number of signed bodies of the same size POSTed straight to the same
receiver by one httpx client at the same concurrency, with no database, queue
or gateway in between (the receiver's own ceiling). Exits 1 when a delivery is
missing, doubled or badly signed.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import click
import httpx
import uvicorn
from redis import Redis
from rq import Worker
from sqlalchemy import insert
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from gateway.audit.models import Event
from gateway.composition.process import api_resources
from gateway.core.clock import SystemClock
from gateway.core.ids import new_id
from gateway.core.queues import SERIALIZER, nudge_relay
from gateway.core.settings import Settings, load_settings
from gateway.merchants.service import MerchantService
from gateway.payments.models import Transaction
from gateway.webhooks.outbound.models import WebhookEndpoint
from gateway.webhooks.outbound.sealing import seal_secrets
from gateway.webhooks.outbound.signing import SigningSecrets, new_secret, signed_headers
from ops.bench.environment import bench_environment
from ops.chaos.servers import ChaosDatabase, RedisServer, chaos_database, free_port

CHUNK = 200
STALL_S = 120.0
QUEUES = "deliveries,maintenance"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass
class Receiver:
    """An endpoint that verifies what it gets, as a careful merchant's would."""

    secret: str
    arrivals: dict[str, float] = field(default_factory=dict)
    baseline_arrivals: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    unverified: int = 0
    # One body the gateway sent: the baseline posts bodies of its size.
    sample: bytes = b""
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        received = time.time()
        headers = {key.decode(): value.decode() for key, value in scope["headers"]}
        try:
            Webhook(self.secret).verify(body, headers)
            verified = True
        except WebhookVerificationError:
            verified = False
        seen = self.baseline_arrivals if scope["path"] == "/baseline" else self.arrivals
        with self.lock:
            if not verified:
                self.unverified += 1
            elif headers["webhook-id"] in seen:
                self.duplicates += 1
            else:
                seen[headers["webhook-id"]] = received
                self.sample = self.sample or body
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


class ReceiverServer:
    def __init__(self, receiver: Receiver) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            receiver, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ReceiverServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the receiver did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@dataclass(frozen=True)
class Figures:
    n: int
    workers: int
    concurrency: int
    rate: float
    seconds: float
    p50_ms: float
    p99_ms: float
    baseline_s: float
    duplicates: int
    unverified: int
    problems: list[str]

    def report(self) -> str:
        lines = [
            f"deliveries benchmark: {self.n} events, one endpoint subscribed to every event,"
            f" {self.workers} non-forking workers, {self.concurrency} attempts in flight"
            " per endpoint, events committed "
            + (f"at {self.rate:g}/s" if self.rate else "as fast as possible"),
            f"  total time             {self.seconds:.1f} s (first commit to last receipt)",
            f"  deliveries/s           {self.n / self.seconds:.1f}",
            f"  commit->receipt p50    {self.p50_ms:.1f} ms",
            f"  commit->receipt p99    {self.p99_ms:.1f} ms",
            f"  duplicates received    {self.duplicates}",
            f"  signatures not valid   {self.unverified}",
            f"  baseline (direct POST) {self.baseline_s:.2f} s"
            f" ({self.n / self.baseline_s:.0f}/s, same receiver, same concurrency)",
            f"  ratio to baseline      {self.seconds / self.baseline_s:.1f}x",
        ]
        lines += [f"  FAILED: {problem}" for problem in self.problems]
        return "\n".join(lines)


def environment(
    database: ChaosDatabase, redis_url: str, run_dir: Path, concurrency: int
) -> dict[str, str]:
    return bench_environment(
        database.url, redis_url, run_dir, GATEWAY_WEBHOOK_DELIVERY_CONCURRENCY=str(concurrency)
    )


async def seed(settings: Settings, n: int, url: str, secret: str) -> tuple[str, list[str]]:
    """A merchant, its endpoint (secret sealed as the API seals it) and N captured
    purchases whose events are not written yet."""
    resources = api_resources(settings)
    clock = SystemClock()
    try:
        async with resources.session_factory() as session:
            merchant = await MerchantService(session, clock).create_merchant("Bench")
            endpoint = WebhookEndpoint(
                id=new_id("wep"), merchant_id=merchant.id, livemode=False, url=url,
                events=["*"], description="bench", disabled=False,
                created_at=clock.now(), updated_at=clock.now(),
            )  # fmt: skip
            seal_secrets(resources.crypto, endpoint, SigningSecrets(current=secret))
            session.add(endpoint)
            await session.commit()
        now = clock.now()
        ids = [new_id("txn") for _ in range(n)]
        rows = (
            {
                "id": transaction_id,
                "merchant_id": merchant.id,
                "livemode": False,
                "type": "purchase",
                "status": "captured",
                "amount": 1500,
                "currency": "USD",
                "amount_captured": 1500,
                "amount_refunded": 0,
                "processor": "simulator",
                "metadata_": {},
                "created_at": now,
                "updated_at": now,
            }
            for transaction_id in ids
        )
        while chunk := list(itertools.islice(rows, 5_000)):
            async with resources.session_factory() as session:
                await session.execute(insert(Transaction), chunk)
                await session.commit()
        return merchant.id, ids
    finally:
        await resources.aclose()


async def commit_events(
    settings: Settings,
    redis_url: str,
    merchant_id: str,
    transaction_ids: list[str],
    rate: float = 0.0,
) -> dict[str, float]:
    """Each purchase's `captured` event, committed CHUNK at a time (or `rate` per
    second, a tenth of a second's worth at a time) with a relay nudge after each
    commit, as the API does; when each was committed."""
    resources = api_resources(settings)
    clock = SystemClock()
    committed: dict[str, float] = {}
    size = max(1, round(rate / 10)) if rate else CHUNK
    began = time.monotonic()
    try:
        for start in range(0, len(transaction_ids), size):
            if rate:
                await asyncio.sleep(max(0.0, began + start / rate - time.monotonic()))
            chunk = transaction_ids[start : start + size]
            rows = [
                {
                    "id": new_id("evt"),
                    "merchant_id": merchant_id,
                    "livemode": False,
                    "object_type": "transaction",
                    "object_id": transaction_id,
                    "sequence": 1,
                    "from_status": "pending",
                    "to_status": "captured",
                    "actor": "api",
                    "created_at": clock.now(),
                    "suppressed": False,
                }
                for transaction_id in chunk
            ]
            async with resources.session_factory() as session:
                await session.execute(insert(Event), rows)
                await session.commit()
            at = time.time()
            committed.update((str(row["id"]), at) for row in rows)
            await asyncio.to_thread(nudge_relay, redis_url)
        return committed
    finally:
        await resources.aclose()


def start_pool(environ: dict[str, str], redis_url: str, workers: int) -> subprocess.Popen[bytes]:
    log = Path(environ["GATEWAY_DATA_DIR"]) / "workers.log"
    with log.open("ab") as output:
        pool = subprocess.Popen(  # noqa: S603 - our own module
            [sys.executable, "-m", "ops.bench.pool", "--workers", str(workers), "--queues", QUEUES],
            env=environ,
            stdout=output,
            stderr=output,
            start_new_session=True,  # its own process group: stopped whole at the end
        )
    connection = Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 60
        while len(Worker.all(connection=connection, serializer=SERIALIZER)) < workers:
            if time.monotonic() > deadline or pool.poll() is not None:
                raise RuntimeError(f"the worker pool did not start (see {log})")
            time.sleep(0.1)
    finally:
        connection.close()
    return pool


def stop_pool(pool: subprocess.Popen[bytes]) -> None:
    os.killpg(pool.pid, signal.SIGTERM)
    try:
        pool.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(pool.pid, signal.SIGKILL)
        pool.wait()


def wait_for(receiver: Receiver, n: int) -> None:
    last, last_change, shown = 0, time.monotonic(), 0.0
    while True:
        with receiver.lock:
            arrived = len(receiver.arrivals)
        if arrived >= n:
            return
        if arrived != last:
            last, last_change = arrived, time.monotonic()
        elif time.monotonic() - last_change > STALL_S:
            raise RuntimeError(f"no delivery for {STALL_S:.0f} s at {arrived}/{n}")
        if time.monotonic() - shown >= 5:
            shown = time.monotonic()
            click.echo(f"  {arrived}/{n} received", err=True)
        time.sleep(0.05)


async def baseline(url: str, secret: str, n: int, concurrency: int, body: bytes) -> float:
    """N signed bodies POSTed straight to the receiver, `concurrency` at a time."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        ids = iter(range(n))
        clock = SystemClock()

        async def post_some() -> None:
            for number in ids:
                event_id = f"evt_baseline{number:08d}"
                headers = signed_headers(event_id, body, (secret,), at=clock.now())
                headers["content-type"] = "application/json"
                response = await client.post(url, content=body, headers=headers)
                response.raise_for_status()

        started = time.monotonic()
        await asyncio.gather(*(post_some() for _ in range(concurrency)))
        return time.monotonic() - started


async def verify(dsn: str, n: int) -> list[str]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT status, count(*) FROM webhook_deliveries GROUP BY 1")
        [doubled] = await connection.fetch(
            "SELECT count(*) FROM (SELECT event_id FROM webhook_deliveries"
            " GROUP BY endpoint_id, event_id HAVING count(*) > 1) doubled"
        )
    finally:
        await connection.close()
    by_status = {row[0]: int(row[1]) for row in rows}
    problems = []
    if by_status.get("succeeded", 0) != n:
        problems.append(f"deliveries by status {by_status}, expected {n} succeeded")
    if doubled[0]:
        problems.append(f"{doubled[0]} events with more than one delivery row")
    return problems


def percentiles(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def run_benchmark(
    n: int, workers: int, concurrency: int, *, rate: float, database_url: str | None, keep: bool
) -> Figures:
    run_dir = (Path(".gateway-data") / "bench" / time.strftime("%Y%m%d-%H%M%S")).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    secret = new_secret()
    receiver = Receiver(secret)
    redis_server = RedisServer(run_dir / "redis")
    redis_server.start()
    try:
        with (
            chaos_database(database_url, Path(".gateway-data"), keep=keep) as database,
            ReceiverServer(receiver) as server,
        ):
            environ = environment(database, redis_server.url, run_dir, concurrency)
            settings = load_settings(environ)
            click.echo(f"seeding {n} purchases in {database.name}...", err=True)
            merchant_id, ids = asyncio.run(seed(settings, n, server.url("/hooks"), secret))
            pool = start_pool(environ, redis_server.url, workers)
            try:
                click.echo(f"committing {n} events, delivering with {workers} workers...", err=True)
                started = time.time()
                committed = asyncio.run(
                    commit_events(settings, redis_server.url, merchant_id, ids, rate)
                )
                wait_for(receiver, n)
                time.sleep(1)  # a duplicate would come soon after
            finally:
                stop_pool(pool)
            with receiver.lock:
                arrivals = dict(receiver.arrivals)
            seconds = max(arrivals.values()) - started
            p50, p99 = percentiles([arrivals[event] - committed[event] for event in arrivals])
            problems = asyncio.run(verify(database.dsn, n))
            if set(arrivals) != set(committed):
                problems.append("the events received are not the events committed")
            baseline_s = asyncio.run(
                baseline(server.url("/baseline"), secret, n, concurrency, receiver.sample)
            )
    finally:
        redis_server.kill()
    if receiver.duplicates:
        problems.append(f"{receiver.duplicates} duplicates received")
    if receiver.unverified:
        problems.append(f"{receiver.unverified} requests whose signature did not verify")
    return Figures(
        n=n,
        workers=workers,
        concurrency=concurrency,
        rate=rate,
        seconds=seconds,
        p50_ms=p50,
        p99_ms=p99,
        baseline_s=baseline_s,
        duplicates=receiver.duplicates,
        unverified=receiver.unverified,
        problems=problems,
    )


@click.command()
@click.option("--n", default=10_000, show_default=True, help="Events to deliver.")
@click.option("--workers", default=2, show_default=True, help="Non-forking RQ workers.")
@click.option(
    "--concurrency", default=8, show_default=True, help="Attempts in flight per endpoint."
)
@click.option(
    "--rate",
    default=0.0,
    show_default=True,
    help="Events committed per second (0: all at once, a burst); below the delivery"
    " rate, the latency is a delivery's own rather than the backlog's.",
)
@click.option(
    "--database-url",
    envvar="BENCH_DATABASE_URL",
    help="A PostgreSQL server (postgresql+asyncpg://...) to create the run's database on;"
    " default: the embedded PostgreSQL under ./.gateway-data/.",
)
@click.option("--keep", is_flag=True, help="Keep the run's database for inspection.")
def main(  # noqa: PLR0917 - click passes the options by name, one per parameter
    n: int, workers: int, concurrency: int, rate: float, database_url: str | None, keep: bool
) -> None:
    """Deliver N events to a verifying receiver; print the figures; check exactly-once."""
    figures = run_benchmark(
        n, workers, concurrency, rate=rate, database_url=database_url, keep=keep
    )
    click.echo(figures.report())
    sys.exit(1 if figures.problems else 0)


if __name__ == "__main__":
    main()
