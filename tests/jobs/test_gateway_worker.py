"""The non-forking worker (issue 20 point 4): jobs share one loop and its pools,
a job past its timeout is cancelled on that loop (it does not run on into the
next job), one that blocks the loop is stopped by the backstop and the loop
replaced, and every job leaves one summary line with its ids, never a card
number. The worker runs in this process (`work(burst=True)` from a sync test)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import structlog
from redis import Redis
from rq.job import Job, JobStatus
from sqlalchemy import text

from gateway.composition.worker import GatewayWorker, LoopDeathPenalty, current_runtime
from gateway.core.queues import SERIALIZER, rq_queue
from jobs.context import job_context

# What the jobs below saw; they run in this process.
SEEN: dict[str, Any] = {}
CARD = "4111111111111111"


async def note_loop(name: str, note: str = "") -> str:
    """Where it ran: its loop and its engine (the worker's, kept across jobs)."""
    async with job_context("note_loop") as job:
        runtime = current_runtime()
        assert runtime is not None
        SEEN[name] = (id(asyncio.get_running_loop()), id(runtime.engine))
        structlog.contextvars.bind_contextvars(merchant_id="mer_worker_test")
        await job.session.execute(text("SELECT 1"))
        return note


async def hang(seconds: float) -> None:
    SEEN["hang_started"] = True
    structlog.contextvars.bind_contextvars(merchant_id="mer_hung")
    try:
        await asyncio.sleep(seconds)
        SEEN["hang_finished"] = True  # must never happen: the job timed out
    except asyncio.CancelledError:
        SEEN["hang_cancelled"] = True
        raise


async def block(seconds: float) -> None:
    time.sleep(seconds)  # blocks the loop itself: only the backstop can stop it  # noqa: ASYNC251


def _work(connection: Redis) -> None:
    GatewayWorker(
        [rq_queue("maintenance", connection)], connection=connection, serializer=SERIALIZER
    ).work(burst=True)


def _summary_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for raw in text.splitlines():
        if raw.startswith("{") and '"job.finished"' in raw:
            lines.append(json.loads(raw))
    return lines


@pytest.mark.slow
def test_a_timed_out_job_is_cancelled_on_the_loop_and_the_next_job_shares_the_pools(
    job_environment: Redis,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    monkeypatch.setenv("GATEWAY_LOG_JSON", "true")
    SEEN.clear()
    queue = rq_queue("maintenance", job_environment)
    first = queue.enqueue(note_loop, "first")
    hung = queue.enqueue(hang, 5, job_timeout=1)
    # A card number in a job's arguments (and so its result), to show the log line
    # masks it; no job of ours carries one (invariant 2), so it leaves Redis with
    # the test, before the suite's card scan reads what is left.
    after = queue.enqueue(note_loop, "after", f"note {CARD}")
    request.addfinalizer(after.delete)

    started = time.monotonic()
    _work(job_environment)
    time.sleep(0.2)  # nothing of the hung job may run after the worker moved on

    assert time.monotonic() - started < 4.5, "the hung job was not cut at its timeout"
    assert SEEN["hang_started"]
    assert SEEN["hang_cancelled"]
    assert "hang_finished" not in SEEN
    assert SEEN["first"] == SEEN["after"], "jobs share one loop and one engine"
    fetched = Job.fetch(hung.id, connection=job_environment, serializer=SERIALIZER)
    assert fetched.get_status() == JobStatus.FAILED
    assert "JobTimeoutException" in (fetched.latest_result().exc_string or "")  # type: ignore[union-attr]
    for done in (first, after):
        assert done.get_status(refresh=True) == JobStatus.FINISHED

    lines = _summary_lines(capfd.readouterr().err)
    by_id = {line["job_id"]: line for line in lines}
    assert by_id[hung.id]["outcome"] == "timed_out"
    assert by_id[hung.id]["level"] == "warning"
    assert by_id[hung.id]["merchant_id"] == "mer_hung"
    summary = by_id[after.id]
    assert summary["queue"] == "maintenance"
    assert summary["job"] == "note_loop"
    assert summary["outcome"] == "succeeded"
    assert summary["merchant_id"] == "mer_worker_test"
    assert isinstance(summary["duration_ms"], float)
    assert CARD not in json.dumps(lines)
    assert summary["args"][0] == "after"


@pytest.mark.slow
def test_a_job_blocking_the_loop_is_stopped_by_the_backstop_and_the_loop_replaced(
    job_environment: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LoopDeathPenalty, "backstop_grace_s", 1)
    SEEN.clear()
    queue = rq_queue("maintenance", job_environment)
    queue.enqueue(note_loop, "before")
    blocked = queue.enqueue(block, 30, job_timeout=1)
    queue.enqueue(note_loop, "after")

    started = time.monotonic()
    _work(job_environment)

    assert time.monotonic() - started < 10
    assert blocked.get_status(refresh=True) == JobStatus.FAILED
    assert SEEN["before"][0] != SEEN["after"][0], "a fresh loop after the backstop fired"
