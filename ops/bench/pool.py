"""`python -m ops.bench.pool --workers K [--queues a,b]`: RQ's worker pool of the
gateway's non-forking workers (`GatewayWorker`: one event loop, engine, Redis and
processors per process, as `gateway worker --pool N` runs them), on the billing
and maintenance queues unless told otherwise, for the benchmarks.

A forking worker pays a fork per job; a benchmark of the billing code should not
measure that. Settings come from the environment the benchmark gives.
"""

from __future__ import annotations

import click
from redis import Redis
from rq.worker_pool import WorkerPool

from gateway.cli.worker_pool import PooledGatewayWorker
from gateway.composition.worker import LoopJob
from gateway.core.queues import SERIALIZER

QUEUES = "billing,maintenance"


@click.command()
@click.option("--workers", default=3, show_default=True)
@click.option("--queues", default=QUEUES, show_default=True, help="Comma-separated.")
@click.option("--redis-url", envvar="REDIS_URL", required=True)
def main(workers: int, queues: str, redis_url: str) -> None:
    connection = Redis.from_url(redis_url, socket_timeout=30, socket_connect_timeout=5)
    WorkerPool(
        queues.split(","),
        connection=connection,
        num_workers=workers,
        worker_class=PooledGatewayWorker,
        job_class=LoopJob,
        serializer=SERIALIZER,
    ).start(logging_level="WARNING")


if __name__ == "__main__":
    main()
