"""How `gateway worker` runs its workers: one `GatewayWorker` in this process, or
`--pool N` of them in RQ's worker pool (forked once each, respawned when one
dies), and where their metrics go.

Metrics: the workers write prometheus-client's multiprocess files into
`PROMETHEUS_MULTIPROC_DIR` when it is set (`gateway up` sets one for all its
processes, so the API's /metrics shows the workers'); a pool without one gets a
folder of its own. Files of dead workers are merged away when the pool sees a
worker die, at start, and at every scrape (core/metrics_files.py).
`--metrics-port` also serves these workers' metrics on a port of their own, for
a host (a container) where no API shares the folder.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import structlog
from prometheus_client import REGISTRY, CollectorRegistry, start_http_server, values
from redis import Redis
from rq.worker_pool import WorkerPool

from gateway.composition.worker import GatewayWorker, LoopJob, use_settings
from gateway.core.metrics_files import (
    ENVIRONMENT,
    MergingCollector,
    merge_dead_processes,
    multiprocess_directory,
)
from gateway.core.queues import SERIALIZER, WORKER_QUEUES
from gateway.core.settings import Settings

_log = structlog.get_logger("gateway.worker")


class PooledGatewayWorker(GatewayWorker):
    """A pool's worker: it dies with its pool (a SIGKILLed pool leaves none)."""

    die_with_parent: ClassVar[bool] = True


class GatewayWorkerPool(WorkerPool):
    """RQ's pool, folding a dead worker's metric files into the merged ones."""

    def handle_dead_worker(self, worker_data: Any) -> None:
        super().handle_dead_worker(worker_data)
        merge_dead_processes()


def _ensure_metrics_directory(pool: int) -> Path | None:
    """The multiprocess folder: the one given, or a new one for a pool."""
    directory = multiprocess_directory()
    if directory is None and pool > 1:
        directory = Path(tempfile.mkdtemp(prefix="gateway-worker-metrics-"))
        os.environ[ENVIRONMENT] = str(directory)
        # prometheus-client picks its value class when imported; metrics with
        # labels make their values later, so choosing again reaches all of ours.
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        merge_dead_processes(directory)
    return directory


def _serve_metrics(directory: Path | None, host: str, port: int) -> None:
    registry = REGISTRY
    if directory is not None:
        registry = CollectorRegistry()
        registry.register(MergingCollector(directory))
    start_http_server(port, addr=host, registry=registry)
    _log.info("worker.metrics_listening", url=f"http://{host}:{port}/metrics")


def run_workers(
    settings: Settings, connection: Redis, *, pool: int, burst: bool, metrics_port: int | None
) -> None:
    directory = _ensure_metrics_directory(pool)
    if metrics_port is not None:
        _serve_metrics(directory, settings.http.host, metrics_port)
    use_settings(settings)
    if pool == 1:
        GatewayWorker(list(WORKER_QUEUES), connection=connection, serializer=SERIALIZER).work(
            burst=burst, with_scheduler=True
        )
        return
    GatewayWorkerPool(
        list(WORKER_QUEUES),
        connection=connection,
        num_workers=pool,
        worker_class=PooledGatewayWorker,
        job_class=LoopJob,
        serializer=SERIALIZER,
    ).start(burst=burst)
    merge_dead_processes()
