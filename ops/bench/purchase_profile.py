"""`python -m ops.bench.purchase_profile [--n 300]`: how much API CPU one purchase
costs, how many SQL statements it sends, and where the time goes.

On a database and a Redis of its own (ops/chaos/servers.py) with one merchant and
a test key, it runs two rounds of N purchases each (unique Idempotency-Keys, a test
card, the simulator as processor, its webhooks off):

1. served: `gateway serve --workers 1` in a process of its own; N sequential then
   N concurrent purchases over HTTP; CPU seconds per purchase from the server's
   process tree (user + system, psutil), so the client's cost is not counted;
2. in-process: the same app built here behind httpx's ASGI transport, with a
   statement counter on every engine the app owns (the gateway's and the
   simulator's) and pyinstrument sampling; prints statements per purchase, CPU
   per purchase in this process (client included, so above the served figure),
   the self time grouped by library, and the hottest functions. The full
   pyinstrument text tree is written under the run directory.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import click
import httpx
import psutil
from pyinstrument import Profiler
from pyinstrument.frame import Frame
from redis import Redis
from sqlalchemy import event

from gateway.app import create_app
from gateway.composition.process import api_resources
from gateway.core.settings import Settings, load_settings
from gateway.merchants.scopes import Scope
from gateway.merchants.service import MerchantService
from ops.bench.environment import bench_environment
from ops.chaos.servers import RedisServer, chaos_database, free_port

GATEWAY = str(Path(sys.executable).with_name("gateway"))
CONCURRENCY = 8
# Library groups of the self-time summary, by a part of the frame's file path.
GROUPS = (
    ("/sqlalchemy/", "sqlalchemy"),
    ("/asyncpg/", "asyncpg"),
    ("/litestar/", "litestar"),
    ("/structlog/", "structlog"),
    ("/redis/", "redis"),
    ("/msgspec/", "msgspec"),
    ("/cryptography/", "cryptography"),
    ("/httpx/", "httpx (client)"),
    ("/httpcore/", "httpx (client)"),
    ("/anyio/", "anyio"),
    ("/prometheus_client/", "prometheus"),
    ("/pybreaker/", "pybreaker"),
    ("/asyncio/", "asyncio"),
    ("/gateway/", "gateway"),
    ("/logging/", "logging"),
)


async def issue_key(settings: Settings) -> str:
    resources = api_resources(settings)
    try:
        async with resources.session_factory() as session:
            service = MerchantService(session, resources.clock)
            merchant = await service.create_merchant("Profile")
            issued = await service.create_key(
                merchant.id, [Scope.PAYMENTS_READ, Scope.PAYMENTS_WRITE], livemode=False
            )
            await session.commit()
        return issued.secret
    finally:
        await resources.aclose()


def body() -> dict[str, object]:
    card = {"number": "4111111111111111", "exp_month": 12, "exp_year": 2035, "cvv": "123"}
    return {"amount": 1500, "currency": "USD", "payment_method": {"card": card}}


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.count = 0

    def __next__(self) -> str:
        self.count += 1
        return f"{self.prefix}-{self.count}"


async def purchases(
    client: httpx.AsyncClient, secret: str, keys: Keys, n: int, concurrency: int
) -> None:
    """N purchases, `concurrency` at a time; any answer but 201 stops the run."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for _ in range(n):
        queue.put_nowait(next(keys))

    async def one_at_a_time() -> None:
        while not queue.empty():
            key = queue.get_nowait()
            response = await client.post(
                "/api/v1/payments/purchase",
                json=body(),
                headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": key},
            )
            if response.status_code != 201:
                raise RuntimeError(f"purchase answered {response.status_code}: {response.text}")

    await asyncio.gather(*(one_at_a_time() for _ in range(concurrency)))


def tree_cpu(process: psutil.Process) -> float:
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


@dataclass(frozen=True)
class Served:
    sequential_ms: float  # CPU per purchase
    concurrent_ms: float
    sequential_wall_ms: float  # latency, one at a time
    transactions: float  # PostgreSQL transactions per purchase (pings' included)
    redis_commands: float  # Redis commands per purchase
    redis_by_command: dict[str, float]
    concurrent_per_s: float


def served_round(environ: dict[str, str], secret: str, n: int) -> Served:
    port = free_port()
    api = subprocess.Popen(  # noqa: S603 - our own command line
        [GATEWAY, "serve", "--workers", "1", "--port", str(port)],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if api.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gateway serve did not start")
            try:
                if httpx.get(f"{url}/api/v1/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        server = psutil.Process(api.pid)
        return asyncio.run(_drive(url, server, secret, n, environ))
    finally:
        api.terminate()
        api.wait(timeout=30)


async def _transactions(database_url: str) -> int:
    """Commits and rollbacks of the run's database so far (PostgreSQL's statistics,
    which a backend flushes within a second of going idle)."""
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    connection = await asyncpg.connect(dsn)
    try:
        await asyncio.sleep(1.5)
        value = await connection.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database"
            " WHERE datname = current_database()"
        )
        return int(value)
    finally:
        await connection.close()


def _redis_commands(redis_url: str) -> Counter[str]:
    """Commands the Redis server has run so far, by command (`total`: all)."""
    client = Redis.from_url(redis_url)
    try:
        stats = client.info("commandstats")
        counts = Counter(
            {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}
        )
        counts["total"] = int(client.info("stats")["total_commands_processed"])
        return counts
    finally:
        client.close()


async def _drive(
    url: str, server: psutil.Process, secret: str, n: int, environ: dict[str, str]
) -> Served:
    keys = Keys(f"served-{os.getpid()}")
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        await purchases(client, secret, keys, min(n, 20), 1)  # warm-up: pools, caches
        # Counted over the sequential round (the checks below are one command
        # and one transaction each, outside it).
        transactions = await _transactions(environ["DATABASE_URL"])
        commands = _redis_commands(environ["REDIS_URL"])
        cpu, wall = tree_cpu(server), time.monotonic()
        await purchases(client, secret, keys, n, 1)
        sequential_cpu, sequential_wall = tree_cpu(server) - cpu, time.monotonic() - wall
        commands = _redis_commands(environ["REDIS_URL"]) - commands
        transactions = await _transactions(environ["DATABASE_URL"]) - transactions - 1
        cpu, wall = tree_cpu(server), time.monotonic()
        await purchases(client, secret, keys, n, CONCURRENCY)
        concurrent_cpu, concurrent_wall = tree_cpu(server) - cpu, time.monotonic() - wall
    return Served(
        sequential_ms=sequential_cpu / n * 1000,
        concurrent_ms=concurrent_cpu / n * 1000,
        sequential_wall_ms=sequential_wall / n * 1000,
        transactions=transactions / n,
        redis_commands=(commands["total"] - 3) / n,  # less the INFO calls of the count
        redis_by_command={
            name: count / n for name, count in commands.items() if name not in ("total", "info")
        },
        concurrent_per_s=n / concurrent_wall,
    )


@dataclass(frozen=True)
class InProcess:
    statements: float  # per purchase, the gateway's and the simulator's
    summary: Counter[str]  # statement verb + table, over every purchase
    cpu_ms: float
    groups: list[tuple[str, float]]  # share of sampled self time
    hottest: list[tuple[str, float]]
    tree: str


def _group(path: str) -> str:
    for part, name in GROUPS:
        if part in path:
            return name
    return "other" if path else "(idle/native)"


def _walk(frame: Frame, parent: Frame) -> Iterator[tuple[Frame, Frame]]:
    """Each frame with the frame its self time belongs to (itself, or for a
    synthetic "[self]" frame, its parent)."""
    yield frame, (parent if frame.is_synthetic else frame)
    for child in frame.children:
        yield from _walk(child, frame)


def _summary(statement: str) -> str:
    words = statement.split()
    verb = words[0].upper() if words else "?"
    for marker in ("FROM", "INTO", "UPDATE"):
        if marker in words[:-1] and verb != "UPDATE":
            return f"{verb} {words[words.index(marker) + 1].strip(chr(34))}"
    return f"{verb} {words[1].strip(chr(34))}" if len(words) > 1 else verb


async def in_process_round(settings: Settings, secret: str, n: int) -> InProcess:
    resources = api_resources(settings)
    recorded: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        recorded.append(statement)

    for engine in (resources.engine, *resources.processor_engines):
        event.listen(engine.sync_engine, "before_cursor_execute", count)
    app = create_app(settings, resources=resources)
    keys = Keys(f"inproc-{os.getpid()}")
    profiler = Profiler(interval=0.0005, async_mode="disabled")
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # an ASGI app all the same
    try:
        # In this task's loop, so that the profiler's thread is the one serving.
        async with (
            app.lifespan(),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        ):
            await purchases(client, secret, keys, min(n, 20), 1)
            recorded.clear()
            started = time.process_time()
            profiler.start()
            await purchases(client, secret, keys, n, CONCURRENCY)
            profiler.stop()
            cpu = time.process_time() - started
    finally:
        await resources.aclose()
    session = profiler.last_session
    assert session is not None
    root = session.root_frame()
    assert root is not None
    by_group: defaultdict[str, float] = defaultdict(float)
    by_function: defaultdict[str, float] = defaultdict(float)
    for frame, owner in _walk(root, root):
        own = frame.total_self_time
        if own <= 0:
            continue
        # A "[self]" frame is its caller's own time: named after the caller.
        by_group[_group(owner.file_path or "")] += own
        by_function[f"{owner.function} ({owner.file_path_short}:{owner.line_no})"] += own
    total = sum(by_group.values()) or 1.0
    hottest = sorted(by_function.items(), key=lambda item: item[1], reverse=True)[:25]
    groups = sorted(by_group.items(), key=lambda item: item[1], reverse=True)
    return InProcess(
        statements=len(recorded) / n,
        summary=Counter(_summary(statement) for statement in recorded),
        cpu_ms=cpu / n * 1000,
        groups=[(name, t / total) for name, t in groups],
        hottest=[(name, t / total) for name, t in hottest],
        tree=profiler.output_text(processor_options={"filter_threshold": 0.005}),
    )


def report(n: int, served: Served | None, profiled: InProcess | None, run_dir: Path) -> str:
    load = os.getloadavg()
    lines = [
        f"purchase profile: {n} purchases a round, test card, simulator webhooks off;"
        f" load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs"
    ]
    if served is not None:
        lines += [
            "served (gateway serve --workers 1, server process tree CPU):",
            f"  API CPU per purchase, sequential     {served.sequential_ms:.2f} ms",
            f"  API CPU per purchase, {CONCURRENCY} concurrent   {served.concurrent_ms:.2f} ms",
            f"  latency, sequential                  {served.sequential_wall_ms:.1f} ms",
            f"  throughput, {CONCURRENCY} concurrent           {served.concurrent_per_s:.0f}/s",
            f"  PostgreSQL transactions per purchase {served.transactions:.2f}",
            f"  Redis commands per purchase          {served.redis_commands:.2f}",
            *(
                f"    {count:5.2f}  {name}"
                for name, count in sorted(served.redis_by_command.items())
            ),
        ]
    if profiled is not None:
        lines += [
            f"in-process ({CONCURRENCY} concurrent, test client and profiler included):",
            f"  CPU per purchase                     {profiled.cpu_ms:.2f} ms",
            f"  SQL statements per purchase          {profiled.statements:.2f}",
        ]
        lines += [
            f"    {count / n:5.2f}  {name}" for name, count in sorted(profiled.summary.items())
        ]
        lines.append("  sampled self time by library:")
        lines += [f"    {share:6.1%}  {name}" for name, share in profiled.groups if share >= 0.005]
        lines.append("  hottest functions (self time):")
        lines += [f"    {share:6.1%}  {name}" for name, share in profiled.hottest]
        tree = run_dir / "purchase-profile.txt"
        tree.write_text(profiled.tree)
        lines.append(f"  full pyinstrument tree: {tree}")
    return "\n".join(lines)


@click.command()
@click.option("--n", default=300, show_default=True, help="Purchases a round.")
@click.option(
    "--database-url",
    envvar="BENCH_DATABASE_URL",
    help="A PostgreSQL server (postgresql+asyncpg://...) to create the run's database on;"
    " default: the embedded PostgreSQL under ./.gateway-data/.",
)
@click.option("--served/--no-served", default=True, help="The served round.")
@click.option("--profile/--no-profile", default=True, help="The in-process profiled round.")
def main(n: int, database_url: str | None, served: bool, profile: bool) -> None:
    """Measure API CPU and SQL statements per purchase; profile where they go."""
    run_dir = (
        Path(".gateway-data") / "bench" / f"purchase-{time.strftime('%Y%m%d-%H%M%S')}"
    ).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    redis_server = RedisServer(run_dir / "redis")
    redis_server.start()
    try:
        with chaos_database(database_url, Path(".gateway-data")) as database:
            # Production's level: a summary line per request is written, as it would be.
            environ = bench_environment(
                database.url, redis_server.url, run_dir, GATEWAY_LOG_LEVEL="INFO"
            )
            settings = load_settings(environ)
            secret = asyncio.run(issue_key(settings))
            served_figures = served_round(environ, secret, n) if served else None
            profiled = asyncio.run(in_process_round(settings, secret, n)) if profile else None
    finally:
        redis_server.kill()
    click.echo(report(n, served_figures, profiled, run_dir))


if __name__ == "__main__":
    main()
