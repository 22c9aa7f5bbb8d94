"""RQ jobs are JSON and never unpickled (issue 19, point 6): whatever enqueues
(the relay, a nudge, cron) writes JSON, workers read JSON, RQ's pickle
serializer refuses in the process, and pickled jobs left from before the upgrade
are rewritten as JSON without being unpickled, or deleted."""

from __future__ import annotations

import base64
import json
import os
import pickle
import zlib
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import pytest
from redis import Redis
from rq import Queue, Retry, SimpleWorker
from rq.cron import CronScheduler
from rq.exceptions import DeserializationError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from gateway.audit.outbox import Dispatch, rq_enqueue
from gateway.core.cron_scheduler import JsonCronScheduler
from gateway.core.pickled_jobs import convert_pickled_jobs
from gateway.core.queues import RELAY_NUDGE_ID, SERIALIZER, PickleRefused, rq_queue, send_nudge
from tests.fixtures.app import flush_test_redis

QUEUE = "json-test"


@pytest.fixture
def connection(test_redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(test_redis_url)
    flush_test_redis(client)
    yield client
    flush_test_redis(client)
    client.close()


class _PickleOfOldRQ:
    """RQ's pickle serializer as the gateway used it before the upgrade (the
    process's own is disabled)."""

    dumps: ClassVar[Any] = partial(pickle.dumps, protocol=pickle.HIGHEST_PROTOCOL)
    loads: ClassVar[Any] = pickle.loads


class _Planted:
    """A pickle that runs code when unpickled: it would create `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.path),))


def _not_json(connection: Redis) -> list[str]:
    """Every job field, and every stored result, that does not parse as JSON."""
    bad = []
    for key in connection.scan_iter(match="rq:job:*", _type="HASH"):
        for name in (b"data", b"meta", b"result"):
            value = connection.hget(key, name)
            if value is None:
                continue
            raw = zlib.decompress(value) if name == b"data" else value
            try:
                json.loads(raw)
            except ValueError:
                bad.append(f"{key.decode()} {name.decode()}")
    for key in connection.scan_iter(match="rq:results:*", _type="STREAM"):
        for _, entry in connection.xrange(key):
            if b"return_value" in entry:
                try:
                    json.loads(base64.b64decode(entry[b"return_value"]))
                except ValueError:
                    bad.append(f"{key.decode()} return_value")
    return bad


def test_every_job_in_redis_is_json_after_a_representative_run(connection: Redis) -> None:
    # The relay (ids and tuples of ids), a commit's nudge, every cron registration.
    rq_enqueue(connection)(
        [
            Dispatch(job_id="event-evt_1", event_id="evt_1", retry_intervals=(10, 60)),
            Dispatch(
                job_id="route-evt_1",
                event_id="evt_1",
                queue="billing",
                function="jobs.billing.charge_invoices",
                object_ids=("inv_1", "inv_2"),
            ),
        ]
    )
    assert send_nudge(connection)
    scheduler = JsonCronScheduler(connection=connection)
    scheduler.load_config_from_file("jobs.cron")
    enqueued = scheduler.enqueue_jobs()
    assert len(enqueued) == len(scheduler.get_jobs()) >= 8
    # A worker's outcomes: a result, a failure, a retry waiting in the scheduler.
    work = rq_queue(QUEUE, connection)
    done = work.enqueue("builtins.len", ["a", "b"])
    failed = work.enqueue("builtins.int", "not a number")
    retried = work.enqueue("builtins.int", "not a number", retry=Retry(max=1, interval=3600))
    SimpleWorker([work], connection=connection, serializer=SERIALIZER).work(burst=True)

    assert done.latest_result() is not None
    assert Job.fetch(done.id, connection, serializer=SERIALIZER).return_value() == 2
    assert FailedJobRegistry(queue=work).get_job_ids() == [failed.id]
    assert ScheduledJobRegistry(queue=work).get_job_ids() == [retried.id]
    charge = Job.fetch("route-evt_1", connection, serializer=SERIALIZER)
    assert (charge.func_name, list(charge.args)) == (
        "jobs.billing.charge_invoices",
        [["inv_1", "inv_2"]],  # the relay's tuple of ids, as a JSON list
    )
    assert rq_queue("maintenance", connection).fetch_job(RELAY_NUDGE_ID) is not None
    assert len(list(connection.scan_iter(match="rq:job:*", _type="HASH"))) >= 13
    assert _not_json(connection) == []


def test_the_cron_scheduler_keeps_rqs_registry_and_registrations(connection: Redis) -> None:
    scheduler = JsonCronScheduler(connection=connection)
    scheduler.load_config_from_file("jobs.cron")
    scheduler.register_birth()
    try:
        # `gateway healthcheck cron` finds it, with the registrations of jobs/cron.py.
        [seen] = CronScheduler.all(connection)
        assert {job.func_name for job in seen.get_jobs()} == {
            job.func_name for job in scheduler.get_jobs()
        }
    finally:
        scheduler.register_death()


def test_rqs_pickle_serializer_refuses_in_the_process(connection: Redis) -> None:
    with pytest.raises(PickleRefused):
        Queue(QUEUE, connection=connection).enqueue("builtins.len", "abc")
    job = rq_queue(QUEUE, connection).enqueue("builtins.len", "abc")
    with pytest.raises(DeserializationError) as refused:
        _ = Job.fetch(job.id, connection=connection).func_name
    assert isinstance(refused.value.__cause__, PickleRefused)


def test_a_planted_pickle_is_never_unpickled_by_a_worker(connection: Redis, tmp_path: Path) -> None:
    target = tmp_path / "ran"
    work = rq_queue(QUEUE, connection)
    job = work.enqueue("builtins.len", "abc")
    evil = ("builtins.len", None, (_Planted(target),), {})
    connection.hset(job.key, "data", zlib.compress(pickle.dumps(evil)))

    SimpleWorker([work], connection=connection, serializer=SERIALIZER).work(burst=True)

    assert not target.exists()
    assert FailedJobRegistry(queue=work).get_job_ids() == [job.id]


def test_pickled_jobs_from_before_the_upgrade_are_rewritten_as_json_in_place(
    connection: Redis, tmp_path: Path
) -> None:
    old = Queue("billing", connection=connection, serializer=_PickleOfOldRQ)
    waiting = old.enqueue(
        "jobs.billing.charge_invoices", ["inv_1", "inv_2"], retry=Retry(max=2, interval=[10, 60])
    )
    scheduled = old.enqueue_in(timedelta(hours=1), "jobs.events.dispatch_event", "evt_1")
    failed = old.enqueue("jobs.events.dispatch_event", "evt_2")
    old.remove(failed)
    FailedJobRegistry(queue=old).add(failed, exc_string="Traceback\nValueError: boom")
    target = tmp_path / "ran"
    planted = old.enqueue("jobs.events.dispatch_event", "evt_3")
    connection.hset(
        planted.key,
        "data",
        zlib.compress(pickle.dumps(("jobs.events.dispatch_event", None, (_Planted(target),), {}))),
    )
    foreign = old.enqueue("os.getcwd")  # plain data, but not a function of the gateway's
    assert len(_not_json(connection)) == 5

    converted = convert_pickled_jobs(connection)

    assert sorted(converted.rewritten) == sorted([waiting.id, scheduled.id, failed.id])
    assert sorted(converted.deleted) == sorted([planted.id, foreign.id])
    assert not target.exists()
    assert _not_json(connection) == []
    billing = rq_queue("billing", connection)
    # Each where it was, once, with its retries: nothing lost, nothing doubled.
    assert billing.job_ids == [waiting.id]
    job = Job.fetch(waiting.id, connection, serializer=SERIALIZER)
    assert (job.func_name, list(job.args), job.retries_left) == (
        "jobs.billing.charge_invoices",
        [["inv_1", "inv_2"]],
        2,
    )
    assert job.get_status() is JobStatus.QUEUED
    assert ScheduledJobRegistry(queue=billing).get_job_ids() == [scheduled.id]
    assert FailedJobRegistry(queue=billing).get_job_ids() == [failed.id]
    assert list(Job.fetch(failed.id, connection, serializer=SERIALIZER).args) == ["evt_2"]
    assert not connection.exists(planted.key, foreign.key)
    # A second start finds nothing left to do.
    again = convert_pickled_jobs(connection)
    assert (again.rewritten, again.deleted) == ([], [])
