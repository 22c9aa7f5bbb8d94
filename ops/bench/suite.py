"""`python -m ops.bench.suite` (`make bench`): the load suite. The real gateway
processes from a fresh database against the bare twin (ops/bench/twin.py) on
the same PostgreSQL, in alternating rounds, each scenario and profile printing
throughput, p50/p95/p99, errors and the ratio to the twin.

Scenarios: `purchases` (unique keys), `journey` (authorize then capture,
purchases, partial refunds after `gateway settle --now`, 5% declines, 20%
replays of an earlier key), `webhooks` (signed inbound notifications posted,
then processed by the worker), `deliveries` (outbound webhooks:
ops/bench/deliveries.py on a database of its own) and `memory` (each process's
peak resident set over the run).

Profiles: `max` (closed loop at a fixed concurrency: the most each completes per
second, with `gateway serve --workers N` for each N of --api-workers), `half`
(open loop at half the gateway's max: the p99 beside the twin's at the same
rate), `steady` (17/s for 5 min), `spike` (0 -> 200/s in 10 s, held 1 min) and
`soak` (30/s for 15 min; only when asked). Open-loop profiles report the p95
against the 500 ms target. --seconds shortens every profile's length for a
quick run (the spike's ramp with --ramp).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import click
import httpx

from gateway.composition.process import api_resources
from gateway.core.clock import SystemClock
from gateway.core.settings import Settings, load_settings
from gateway.merchants.scopes import Scope
from gateway.merchants.service import MerchantService
from ops.bench import deliveries
from ops.bench.environment import bench_environment
from ops.bench.inbox import database_now, processing
from ops.bench.load import (
    TARGET_P95_MS,
    Profile,
    Result,
    Send,
    client,
    closed_loop,
    open_loop,
    soak,
    spike,
    steady,
)
from ops.bench.processes import GatewayFleet, MemoryWatch, Twin, cpu_seconds
from ops.bench.report import line, memory_lines, ms, progress, ratio
from ops.bench.scenarios import Journey, purchases, seed_purchases, webhook_bodies, webhooks
from ops.bench.twin import create_schema
from ops.chaos import operator
from ops.chaos.servers import RedisServer, chaos_database, free_port, sibling_database

SCENARIOS = ("purchases", "journey", "webhooks", "deliveries", "memory")
PROFILES = ("max", "half", "steady", "spike", "soak")
DEFAULT_PROFILES = ("max", "half", "steady", "spike")


@dataclass(frozen=True)
class SuiteConfig:
    scenarios: tuple[str, ...] = tuple(s for s in SCENARIOS)
    profiles: tuple[str, ...] = DEFAULT_PROFILES
    seconds: float | None = None  # every profile's length, for a quick run
    max_s: float = 30.0
    half_s: float = 60.0
    steady_rate: float = 17.0
    steady_s: float = 300.0
    peak: float = 200.0
    ramp_s: float = 10.0
    spike_hold_s: float = 60.0
    soak_rate: float = 30.0
    soak_s: float = 900.0
    concurrency: int = 32
    api_workers: tuple[int, ...] = (1, 2)
    deliveries_n: int = 2000
    drain_s: float = 300.0
    warm_up_s: float = 5.0
    database_url: str | None = None
    keep: bool = False

    def length(self, default: float) -> float:
        return self.seconds if self.seconds is not None else default

    def profile(self, name: str, half_rate: float) -> Profile:
        if name == "steady":
            return steady(self.steady_rate, self.length(self.steady_s))
        if name == "spike":
            return spike(self.peak, self.ramp_s, self.length(self.spike_hold_s))
        if name == "soak":
            return soak(self.soak_rate, self.length(self.soak_s))
        profile = steady(half_rate, self.length(self.half_s))
        return replace(profile, name="half")


class Suite:
    def __init__(
        self,
        config: SuiteConfig,
        fleet: GatewayFleet,
        twin: Twin,
        environ: dict[str, str],
        watch: MemoryWatch,
    ) -> None:
        self.config = config
        self.watch = watch
        self.fleet = fleet
        self.twin = twin
        self.environ = environ
        self.settings = load_settings(environ)
        self.signature_key = environ["GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS"]
        self.gateway_key = ""
        self.twin_key = environ["TWIN_API_KEY"]
        self.errors = 0
        self.max_rate = 0.0  # the gateway's, at the first --api-workers
        self.settled: list[str] = []
        self.twin_settled: list[str] = []
        self.round = 0

    def echo(self, text: str) -> None:
        click.echo(text)
        sys.stdout.flush()

    def _client(self, gateway: bool, connections: int) -> httpx.AsyncClient:
        url = self.fleet.url if gateway else self.twin.url
        key = self.gateway_key if gateway else self.twin_key
        return client(url, {"Authorization": f"Bearer {key}"}, connections)

    async def warm_up(self) -> None:
        """Unmeasured purchases on each, so that no round pays for the first
        connections, imports and caches. The first run's first half makes the
        purchases the journey refunds; `settle --now` runs during the second."""
        seeding = not self.settled
        half = self.config.warm_up_s / 2
        await self._purchase_a_while(half, seeding=seeding)
        settling = None
        if seeding and "journey" in self.config.scenarios:
            settling = asyncio.create_task(self._settle())
        await self._purchase_a_while(half, seeding=False)
        if settling is not None:
            await settling

    async def _purchase_a_while(self, seconds: float, *, seeding: bool) -> None:
        for gateway in (False, True):
            ids = self.settled if gateway else self.twin_settled
            async with self._client(gateway, 8) as http:
                send = purchases(self._prefix(), strict=False, ids=ids if seeding else None)
                await closed_loop(http, send, concurrency=8, seconds=seconds)

    async def _settle(self) -> None:
        await asyncio.to_thread(operator.gateway, self.environ, "settle", "--now")
        progress(f"settle --now: {len(self.settled)} purchases to refund")

    async def _measure(self, gateway: bool, send: Send, profile: Profile | None) -> Result:
        pid = self.fleet.pid("api") if gateway else self.twin.pid
        async with self._client(gateway, max(self.config.concurrency, 256)) as http:
            before = cpu_seconds(pid)
            if profile is None:
                result = await closed_loop(
                    http,
                    send,
                    concurrency=self.config.concurrency,
                    seconds=self.config.length(self.config.max_s),
                )
            else:
                arrivals = profile.arrivals()
                rate = len(arrivals) / profile.seconds
                result = await open_loop(http, send, arrivals, offered=rate)
            result.cpu_s = cpu_seconds(pid) - before
        self.errors += result.error_count
        return result

    def _prefix(self) -> str:
        self.round += 1
        return f"bench-{os.getpid()}-{self.round}"

    def _report(self, title: str, twin: Result, gateway: Result, profile: Profile | None) -> None:
        progress(f"round done: {title}")
        self.echo(f"[{title}]")
        self.echo(line("twin", twin))
        self.echo(line("gateway", gateway))
        self.echo(
            f"  ratio     throughput {ratio(gateway.throughput, twin.throughput)} twin"
            f"  p99 {ratio(gateway.percentile_ms(99), twin.percentile_ms(99))} twin"
            f"  cpu/request {ratio(gateway.cpu_ms_per_request, twin.cpu_ms_per_request)} twin"
        )
        if profile is not None:
            p95 = gateway.percentile_ms(95)
            verdict = "met" if p95 <= TARGET_P95_MS else "missed"
            self.echo(
                f"  target    gateway p95 {ms(p95)} against {TARGET_P95_MS:.0f} ms: {verdict}"
            )

    # -- scenarios ---------------------------------------------------------------

    async def purchases(self, profile: Profile | None) -> Result:
        twin = await self._measure(False, purchases(self._prefix(), strict=False), profile)
        gateway = await self._measure(True, purchases(self._prefix(), strict=True), profile)
        title = (
            f"purchases | max: {self.config.concurrency} connections for"
            f" {self.config.length(self.config.max_s):g} s | {self.fleet.api_workers} API worker(s)"
            if profile is None
            else f"purchases | {profile.name}: {profile.describe()}"
        )
        self._report(title, twin, gateway, profile)
        return gateway

    async def _seed(self) -> None:
        """Purchases for the journey to refund and the webhooks to be about, when
        the warm-up made none."""
        if self.settled and self.twin_settled:
            return
        async with self._client(True, 8) as http:
            self.settled += await seed_purchases(http, self._prefix(), 8)
        async with self._client(False, 8) as http:
            self.twin_settled += await seed_purchases(http, self._prefix(), 8)
        await self._settle()

    async def journey(self, profile: Profile | None) -> None:
        await self._seed()
        twin_journey = Journey(self._prefix(), self.twin_settled, strict=False)
        twin = await self._measure(False, twin_journey.send, profile)
        gateway_journey = Journey(self._prefix(), self.settled, strict=True)
        gateway = await self._measure(True, gateway_journey.send, profile)
        name = "max" if profile is None else f"{profile.name}: {profile.describe()}"
        self._report(f"journey | {name}", twin, gateway, profile)

    async def webhooks(self, profile: Profile | None) -> None:
        n = len(profile.arrivals()) if profile else 20_000
        await self._seed()
        twin_bodies = await webhook_bodies(self.settings, n)
        twin = await self._measure(False, webhooks(twin_bodies, self.signature_key), profile)
        bodies = await webhook_bodies(self.settings, n)
        started = await database_now(self.environ["BENCH_DSN"])
        gateway = await self._measure(True, webhooks(bodies, self.signature_key), profile)
        name = "max" if profile is None else f"{profile.name}: {profile.describe()}"
        self._report(f"webhooks | {name}", twin, gateway, profile)
        self.echo(
            await processing(
                self.environ["BENCH_DSN"], started, len(gateway.latencies), self.config.drain_s
            )
        )

    async def run(self) -> None:
        config = self.config
        rate_profiles = [name for name in config.profiles if name not in {"max", "half"}]
        first = config.api_workers[0]
        for workers in config.api_workers:
            if workers != self.fleet.api_workers:
                self.twin.stop()
                self.twin.launch(workers)
                self.fleet.restart_api(workers)
                self.twin.wait()
                # The same labels: the peaks are over the whole run.
                self.watch.watch("gateway api", self.fleet.pid("api"))
                self.watch.watch("twin", self.twin.pid)
            await self.warm_up()
            progress("warmed up")
            if "max" in config.profiles and "purchases" in config.scenarios:
                result = await self.purchases(None)
                if workers == first:
                    self.max_rate = result.throughput
            if workers != first:
                continue
            for name in ("half", *rate_profiles):
                if name not in config.profiles:
                    continue
                if name == "half" and not self.max_rate:
                    continue
                profile = config.profile(name, self.max_rate / 2)
                for scenario in ("purchases", "journey", "webhooks"):
                    if scenario not in config.scenarios:
                        continue
                    if name == "half" and scenario != "purchases":
                        continue
                    await self._scenario(scenario)(profile)

    def _scenario(self, name: str) -> Callable[[Profile | None], Awaitable[object]]:
        scenarios: dict[str, Callable[[Profile | None], Awaitable[object]]] = {
            "purchases": self.purchases,
            "journey": self.journey,
            "webhooks": self.webhooks,
        }
        return scenarios[name]


async def merchant_key(settings: Settings) -> str:
    """A new merchant's test key with the payment scopes."""
    resources = api_resources(settings)
    try:
        async with resources.session_factory() as session:
            service = MerchantService(session, SystemClock())
            merchant = await service.create_merchant("Load suite")
            scopes = [Scope.PAYMENTS_READ, Scope.PAYMENTS_WRITE]
            issued = await service.create_key(merchant.id, scopes, livemode=False)
            await session.commit()
        return issued.secret
    finally:
        await resources.aclose()


@contextmanager
def _run_dir(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    try:
        yield path
    finally:
        if keep:
            click.echo(f"logs kept in {path}", err=True)
        else:
            shutil.rmtree(path, ignore_errors=True)


def run_suite(config: SuiteConfig) -> int:
    """Runs the suite, printing as it goes; the number of errors."""
    errors = 0
    http_scenarios = {"purchases", "journey", "webhooks", "memory"} & set(config.scenarios)
    if http_scenarios:
        errors += _run_http(config)
    if "deliveries" in config.scenarios:
        figures = deliveries.run_benchmark(
            config.deliveries_n,
            2,
            8,
            rate=0.0,
            database_url=config.database_url,
            keep=config.keep,
        )
        click.echo("[deliveries | outbound webhooks; ratio to its direct-POST baseline]")
        click.echo(figures.report())
        errors += len(figures.problems)
    click.echo(f"errors in total: {errors}")
    return errors


def _run_http(config: SuiteConfig) -> int:
    with _run_dir(config.keep) as run_dir:
        redis_server = RedisServer(run_dir / "redis")
        redis_server.start()
        try:
            with (
                chaos_database(config.database_url, Path(".gateway-data"), keep=config.keep) as db,
                sibling_database(db, "_twin", keep=config.keep) as twin_db,
            ):
                progress("databases created and migrated")
                asyncio.run(create_schema(twin_db.dsn))
                signature_key = os.urandom(64).hex().upper()
                environ = bench_environment(
                    db.url,
                    redis_server.url,
                    run_dir,
                    GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS=signature_key,
                    BENCH_DSN=db.dsn,
                    TWIN_DSN=twin_db.dsn,
                    TWIN_API_KEY=os.urandom(16).hex(),
                    TWIN_SIGNATURE_KEY=signature_key,
                )
                fleet = GatewayFleet(environ, port=free_port(), log_dir=run_dir / "logs")
                twin = Twin(environ, port=free_port(), log_dir=run_dir / "logs")
                watch = MemoryWatch()
                click.echo(
                    f"load suite: the gateway (serve, worker, cron) on {db.name} against its"
                    f" twin on {twin_db.name}, alternating rounds"
                )
                suite = Suite(config, fleet, twin, environ, watch)
                try:
                    fleet.launch(config.api_workers[0])
                    twin.launch(config.api_workers[0])
                    # While they start: the key needs only the database.
                    suite.gateway_key = asyncio.run(merchant_key(suite.settings))
                    fleet.wait()
                    twin.wait()
                    progress("processes answer")
                    for name in ("api", "worker", "cron"):
                        watch.watch(f"gateway {name}", fleet.pid(name))
                    watch.watch("twin", twin.pid)
                    watch.start()
                    asyncio.run(suite.run())
                finally:
                    watch.stop()
                    twin.stop()
                    fleet.stop()
                if "memory" in config.scenarios:
                    for line in memory_lines(watch):
                        click.echo(line)
                return suite.errors
        finally:
            redis_server.kill()


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part)


def _names(
    allowed: tuple[str, ...],
) -> Callable[[click.Context, click.Parameter, str], tuple[str, ...]]:
    def check(_: click.Context, __: click.Parameter, text: str) -> tuple[str, ...]:
        names = tuple(part for part in text.split(",") if part)
        unknown = set(names) - set(allowed)
        if unknown:
            raise click.BadParameter(f"unknown: {', '.join(sorted(unknown))}; known: {allowed}")
        return names

    return check


@click.command()
@click.option(
    "--scenarios", default=",".join(SCENARIOS), show_default=True, callback=_names(SCENARIOS)
)
@click.option(
    "--profiles",
    default=",".join(DEFAULT_PROFILES),
    show_default=True,
    callback=_names(PROFILES),
    help="soak (30/s for 15 min) only when named.",
)
@click.option("--seconds", type=float, help="Every profile's length (a quick run).")
@click.option("--ramp", "ramp_s", default=10.0, show_default=True, help="The spike's ramp, s.")
@click.option("--peak", default=200.0, show_default=True, help="The spike's rate, per s.")
@click.option("--rate", "steady_rate", default=17.0, show_default=True, help="Steady rate, per s.")
@click.option("--concurrency", default=32, show_default=True, help="Connections of `max`.")
@click.option("--api-workers", default="1,2", show_default=True, help="`max` with each N.")
@click.option("--warm-up", "warm_up_s", default=5.0, show_default=True, help="Unmeasured, s.")
@click.option("--deliveries-n", default=2000, show_default=True, help="Events delivered.")
@click.option(
    "--drain", "drain_s", default=300.0, show_default=True,
    help="Most seconds to wait for the worker to process a webhook round.",
)  # fmt: skip
@click.option(
    "--database-url",
    envvar="BENCH_DATABASE_URL",
    help="A PostgreSQL server (postgresql+asyncpg://...) to create the run's databases on;"
    " default: the embedded PostgreSQL under ./.gateway-data/.",
)
@click.option("--keep", is_flag=True, help="Keep the databases and the processes' logs.")
def main(  # noqa: PLR0917 - click passes the options by name, one per parameter
    scenarios: tuple[str, ...],
    profiles: tuple[str, ...],
    seconds: float | None,
    ramp_s: float,
    peak: float,
    steady_rate: float,
    concurrency: int,
    api_workers: str,
    warm_up_s: float,
    deliveries_n: int,
    drain_s: float,
    database_url: str | None,
    keep: bool,
) -> None:
    """The load suite: the gateway against its twin; every figure, then exit 1 on any error."""
    config = SuiteConfig(
        scenarios=scenarios,
        profiles=profiles,
        seconds=seconds,
        ramp_s=ramp_s,
        peak=peak,
        steady_rate=steady_rate,
        concurrency=concurrency,
        api_workers=_numbers(api_workers) or (1,),
        deliveries_n=deliveries_n,
        drain_s=drain_s,
        warm_up_s=warm_up_s,
        database_url=database_url,
        keep=keep,
    )
    sys.exit(1 if run_suite(config) else 0)


if __name__ == "__main__":
    main()
