"""Prometheus exposition at /api/v1/metrics (multiprocess-ready).

Request counts and latency come from Litestar's Prometheus middleware, labelled
by route template, method and status. With `PROMETHEUS_MULTIPROC_DIR` set (as
`gateway up` does for its children, `gateway serve --workers N` and `gateway
worker` when none is given) every process of the host writes its samples there and
the endpoint aggregates them, folding dead processes' files into merged ones
(core/metrics_files.py).

Gauges of what PostgreSQL holds are not per-process samples: they are counted
when scraped, so they are right whichever process changed the rows, and cached
for a while so that frequent scrapes do not query each time. Each domain gives
its own (`create_app` lists them): `gateway_encrypted_rows{table, key_id}` (key
rotation, DESIGN.md invariant 8), the pending and review backlog, outbox lag,
the inbound webhook backlog by status. Read at every scrape: the RQ queues'
depth and oldest job age and the live workers per queue (from Redis), and
`gateway_dependency_up{dependency}`, whether this process reaches PostgreSQL
and Redis as it answers.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import structlog
from litestar import Litestar, Request, get
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.response import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import (
    CONTENT_TYPE_LATEST as OPENMETRICS_CONTENT_TYPE_LATEST,
)
from prometheus_client.openmetrics.exposition import (
    generate_latest as openmetrics_generate_latest,
)
from redis.asyncio import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.utils import utcparse
from rq.worker_registration import WORKERS_BY_QUEUE_KEY
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.clock import Clock, SystemClock
from gateway.core.handles import BreakerState
from gateway.core.health import database_state, redis_state
from gateway.core.metrics_files import MergingCollector, multiprocess_directory
from gateway.core.queues import QUEUE_NAMES
from gateway.core.rotation import count_by_key, sealed_tables

if TYPE_CHECKING:
    from gateway.core.handles import ProcessHandles

METRICS_PATH = "/api/v1/metrics"
ENCRYPTED_ROWS_TTL: Final = timedelta(seconds=60)
BACKLOG_TTL: Final = timedelta(seconds=15)
DATABASE_GAUGES_STATE_KEY: Final = "database_gauges"
_DEPENDENCY_TIMEOUT_S: Final = 0.5

_log = structlog.get_logger("gateway.metrics")


def prometheus_config() -> PrometheusConfig:
    return PrometheusConfig(
        app_name="gateway",
        prefix="gateway",
        group_path=True,
        exclude_unhandled_paths=True,
        exclude=[METRICS_PATH],
    )


def metrics_token_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Require `Authorization: Bearer <GATEWAY_METRICS_TOKEN>` when that setting is not empty."""
    token: str = connection.app.state.settings.http.metrics_token
    if not token:
        return
    given = connection.headers.get("authorization", "")
    scheme, _separator, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        value.strip().encode(), token.encode()
    ):
        raise NotAuthorizedException("A valid metrics bearer token is required.")


class MetricsController(PrometheusController):
    path = METRICS_PATH
    guards = [metrics_token_guard]  # noqa: RUF012 - Litestar reads this class attribute
    include_in_schema = False

    @get()
    async def get(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        resources = request.app.state.resources
        # The parent's handler exposes one registry; the counts from PostgreSQL are
        # added beside it rather than kept as a per-process gauge, which in
        # multiprocess mode would leave dead processes' values behind.
        registry = CollectorRegistry()
        directory = multiprocess_directory()
        if directory is not None:
            # Reads every process's files, merging those of dead ones first.
            registry.register(MergingCollector(directory))
        else:
            registry.register(_Forwarding(REGISTRY))
        for gauges in database_gauges_of(request.app):
            await gauges.refresh_if_stale(resources)
            registry.register(gauges)
        database, redis = await asyncio.gather(
            database_state(resources, _DEPENDENCY_TIMEOUT_S),
            redis_state(resources, _DEPENDENCY_TIMEOUT_S),
        )
        families: list[Metric] = [
            breaker_family(await resources.processors.breaker_states()),
            dependency_family({"database": database == "ok", "redis": redis == "ok"}),
            # RQ stamps jobs with the wall clock, whatever clock the app runs on.
            *await queue_families(resources.redis, clock=SystemClock()),
            *await worker_families(resources.redis),
        ]
        registry.register(_Static(families))
        if self.openmetrics_format:
            return Response(
                openmetrics_generate_latest(registry),  # type: ignore[no-untyped-call]
                headers={"Content-Type": OPENMETRICS_CONTENT_TYPE_LATEST},
            )
        return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


GaugeSource = Callable[[AsyncSession, "ProcessHandles"], Awaitable[list[Metric]]]


class DatabaseGauges:
    """Families one source computes in PostgreSQL, as of its last refresh."""

    def __init__(self, name: str, source: GaugeSource, ttl: timedelta) -> None:
        self.name = name
        self._source = source
        self._ttl = ttl
        self._families: list[Metric] = []
        self._refreshed_at: datetime | None = None
        self._lock = asyncio.Lock()

    async def refresh_if_stale(self, resources: ProcessHandles) -> None:
        async with self._lock:  # concurrent scrapes share one refresh
            now = resources.clock.now()
            if self._refreshed_at is not None and now - self._refreshed_at < self._ttl:
                return
            # A failed refresh waits for the next period too: a struggling database
            # is not queried on every scrape.
            self._refreshed_at = now
            try:
                async with resources.session_factory() as session:
                    self._families = await self._source(session, resources)
            except (SQLAlchemyError, OSError):
                _log.warning("metrics.not_counted", gauges=self.name, exc_info=True)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


async def encrypted_rows(session: AsyncSession, resources: ProcessHandles) -> list[Metric]:
    """gateway_encrypted_rows: rows per sealed table and key id. Every key of the
    ring is shown for every table, 0 when no row uses it, so "nothing left under
    the old key" is a sample and not a gap."""
    found = await count_by_key(session)
    kids = resources.crypto.keyring.kids
    counts = {(sealed.name, kid): 0 for sealed in sealed_tables() for kid in kids} | found
    family = GaugeMetricFamily(
        "gateway_encrypted_rows",
        "Rows holding a value sealed under each encryption key id, by table.",
        labels=["table", "key_id"],
    )
    for (table, kid), count in sorted(counts.items()):
        family.add_metric([table, kid], count)
    return [family]


def dependency_family(up: Mapping[str, bool]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "gateway_dependency_up",
        "1 when this process reached the dependency while answering the scrape.",
        labels=["dependency"],
    )
    for dependency, reached in sorted(up.items()):
        family.add_metric([dependency], 1 if reached else 0)
    return family


def breaker_family(states: Mapping[str, str]) -> GaugeMetricFamily:
    """gateway_processor_circuit_state{processor, state}: 1 for the current state."""
    family = GaugeMetricFamily(
        "gateway_processor_circuit_state",
        "The processor's circuit breaker: 1 for its current state (shared through Redis).",
        labels=["processor", "state"],
    )
    for processor, current in sorted(states.items()):
        for state in BreakerState:
            family.add_metric([processor, state.value], 1 if state == current else 0)
    return family


async def queue_families(redis: Redis, *, clock: Clock) -> list[Metric]:
    """gateway_queue_jobs{queue, state} (waiting, scheduled retries, failed) and
    gateway_queue_oldest_job_age_seconds{queue}, read from Redis at scrape time, so
    they hold whichever process enqueued or ran the jobs."""
    depth = GaugeMetricFamily(
        "gateway_queue_jobs",
        "RQ jobs per queue: waiting, scheduled (delayed retries) and failed.",
        labels=["queue", "state"],
    )
    oldest = GaugeMetricFamily(
        "gateway_queue_oldest_job_age_seconds",
        "How long the job at the head of each RQ queue has waited (0 when empty).",
        labels=["queue"],
    )
    now = clock.now()
    try:
        for name in QUEUE_NAMES:
            key = Queue.redis_queue_namespace_prefix + name
            async with redis.pipeline(transaction=False) as pipeline:
                pipeline.llen(key)
                pipeline.zcard(ScheduledJobRegistry.key_template.format(name))
                pipeline.zcard(FailedJobRegistry.key_template.format(name))
                pipeline.lindex(key, 0)
                waiting, scheduled, failed, head = await pipeline.execute()
            depth.add_metric([name, "waiting"], waiting)
            depth.add_metric([name, "scheduled"], scheduled)
            depth.add_metric([name, "failed"], failed)
            age = 0.0
            if head is not None:
                enqueued = await redis.hget(
                    Job.redis_job_namespace_prefix + _text(head), "enqueued_at"
                )
                if enqueued:
                    age = max((now - utcparse(_text(enqueued))).total_seconds(), 0.0)
            oldest.add_metric([name], age)
    except RedisError:
        _log.warning("metrics.queues_not_read", exc_info=True)
        return []
    return [depth, oldest]


async def worker_families(redis: Redis) -> list[Metric]:
    """gateway_workers{queue}: RQ workers registered on each queue whose key is
    still alive in Redis (a worker's key expires soon after it dies, SIGKILL
    included, while its registration lingers until RQ cleans it)."""
    family = GaugeMetricFamily(
        "gateway_workers",
        "Live RQ workers listening on each queue, read from Redis at scrape time.",
        labels=["queue"],
    )
    try:
        for name in QUEUE_NAMES:
            members = await redis.smembers(WORKERS_BY_QUEUE_KEY % name)
            live = 0
            if members:
                async with redis.pipeline(transaction=False) as pipeline:
                    for member in members:
                        pipeline.exists(_text(member))
                    live = sum(await pipeline.execute())
            family.add_metric([name], live)
    except RedisError:
        _log.warning("metrics.workers_not_read", exc_info=True)
        return []
    return [family]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class _Static:
    """Families computed for one scrape."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return iter(self._families)


class _Forwarding:
    """The process's default registry as one collector of another registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        return self._registry.collect()


def database_gauges_of(app: Litestar) -> list[DatabaseGauges]:
    # One set per app (not per module): each app has its own database and clock.
    gauges: list[DatabaseGauges] = app.state.get(DATABASE_GAUGES_STATE_KEY, [])
    return gauges
