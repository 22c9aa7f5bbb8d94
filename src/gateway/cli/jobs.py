"""`gateway jobs failed|requeue`: RQ's failed registries, every queue.

A job lands there once it has no retry left (also visible in rq-dashboard).
Requeueing runs the same job again under its id; for inbound webhooks,
`gateway webhooks replay` is the better tool (a fresh set of retries)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import click
import msgspec
from redis import Redis
from rq.exceptions import DeserializationError
from rq.job import Job
from rq.registry import FailedJobRegistry

from gateway.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    emit,
    fail,
    json_option,
    load_settings_or_exit,
    running_servers,
    table,
)
from gateway.core.queues import QUEUE_NAMES, SERIALIZER, rq_connection, rq_queue

_queue_option = click.option(
    "--queue", "queue_name", type=click.Choice(QUEUE_NAMES), help="Only this queue."
)


class FailedJob(msgspec.Struct):
    id: str
    queue: str
    function: str | None
    argument: str | None
    ended_at: datetime | None
    error: str | None  # the last line of the exception


def _registries(connection: Redis, queue_name: str | None) -> Iterator[FailedJobRegistry]:
    for name in (queue_name,) if queue_name else QUEUE_NAMES:
        yield FailedJobRegistry(queue=rq_queue(name, connection))


def _failed(connection: Redis, queue_name: str | None) -> list[FailedJob]:
    found = []
    for registry in _registries(connection, queue_name):
        ids = registry.get_job_ids()
        for job in Job.fetch_many(ids, connection=connection, serializer=SERIALIZER):
            if job is None:
                continue  # expired from Redis meanwhile
            result = job.latest_result()
            error = ((result.exc_string if result else None) or "").strip().splitlines()
            try:
                function, args = job.func_name, job.args
            except DeserializationError:  # not JSON: planted, or pickled before the upgrade
                function, args = None, []
            found.append(
                FailedJob(
                    id=job.id,
                    queue=registry.name,
                    function=function,
                    argument=str(args[0]) if args else None,
                    ended_at=job.ended_at,
                    error=error[-1] if error else None,
                )
            )
    return found


@click.group()
def jobs() -> None:
    """RQ jobs that failed their last attempt."""


@jobs.command("failed")
@_queue_option
@json_option
def failed(queue_name: str | None, as_json: bool) -> None:
    """List the failed jobs of every queue (or of --queue)."""
    settings = load_settings_or_exit()
    with running_servers(settings) as ready:
        assert ready.redis.url is not None
        connection = rq_connection(ready.redis.url)
        try:
            rows = _failed(connection, queue_name)
        finally:
            connection.close()
    emit(
        {"data": rows},
        as_json=as_json,
        human=lambda: table(
            [
                (
                    row.id,
                    row.queue,
                    (row.function or "?").rsplit(".", 1)[-1],
                    row.argument or "-",
                    row.ended_at.isoformat(timespec="seconds") if row.ended_at else "-",
                    row.error or "-",
                )
                for row in rows
            ],
            ["JOB", "QUEUE", "FUNCTION", "ARGUMENT", "FAILED AT", "ERROR"],
        ),
    )


@jobs.command("requeue")
@click.argument("job_ids", metavar="[JOB_ID...]", nargs=-1)
@_queue_option
@click.option("--all", "everything", is_flag=True, help="Every failed job (of --queue).")
@json_option
def requeue(
    job_ids: tuple[str, ...], queue_name: str | None, everything: bool, as_json: bool
) -> None:
    """Put failed jobs back on their queue: JOB_IDs, or --all (of --queue)."""
    if bool(job_ids) == everything:
        fail("give job ids or --all, not both and not neither", code=EXIT_USAGE)
    settings = load_settings_or_exit()
    with running_servers(settings) as ready:
        assert ready.redis.url is not None
        connection = rq_connection(ready.redis.url)
        try:
            requeued, unknown = _requeue(connection, queue_name, job_ids, everything=everything)
        finally:
            connection.close()
    if unknown:
        fail(f"no failed job {', '.join(unknown)}", code=EXIT_FAILED)
    emit(
        {"requeued": requeued},
        as_json=as_json,
        human=lambda: f"requeued {len(requeued)} job(s)",
    )


def _requeue(
    connection: Redis, queue_name: str | None, job_ids: tuple[str, ...], *, everything: bool
) -> tuple[list[str], list[str]]:
    registries = list(_registries(connection, queue_name))
    holders = {job_id: registry for registry in registries for job_id in registry.get_job_ids()}
    wanted = list(holders) if everything else list(dict.fromkeys(job_ids))
    unknown = [job_id for job_id in wanted if job_id not in holders]
    requeued = []
    for job_id in wanted:
        if job_id in holders:
            holders[job_id].requeue(job_id)
            requeued.append(job_id)
    return requeued, unknown
