"""What every job run by a gateway worker leaves behind: one summary log line
(`job.finished`: queue, job, job id, outcome, duration, retries left, the ids the job
bound to its log context, such as `merchant_id`) and its duration and failure
metrics, written to the multiprocess directory so the API's scrape has them.

Outcomes: `succeeded`, `failed` (the job raised; RQ retries it if it has retries
left) and `timed_out` (its task was cancelled at its timeout).
"""

from __future__ import annotations

from typing import Any, Final

import structlog
from prometheus_client import Counter, Histogram
from rq.job import Job

JOB_DURATION: Final = Histogram(
    "gateway_job_duration_seconds",
    "Wall time of each RQ job run by a gateway worker, by queue, job and outcome.",
    ["queue", "job", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180),
)
JOB_FAILURES: Final = Counter(
    "gateway_job_failures",
    "RQ job runs that failed or timed out, by queue and job (each attempt counts).",
    ["queue", "job"],
)

_log = structlog.get_logger("gateway.jobs")

# Per job run (a worker runs one job at a time): what the job bound to its log
# context on the loop, and whether its timeout ended it.
_state: dict[str, Any] = {"context": {}, "timed_out": False}


def start_job() -> None:
    _state["context"] = {}
    _state["timed_out"] = False


def remember_context(bound: dict[str, Any]) -> None:
    """The log context the job's task bound (its ids), for its summary line."""
    _state["context"] = dict(bound)


def note_timeout() -> None:
    _state["timed_out"] = True


def job_name(job: Job) -> str:
    """The job function's own name (`jobs.webhooks.process_webhook_event` ->
    `process_webhook_event`): a bounded label."""
    return (job.func_name or "unknown").rpartition(".")[2]


def _ids(arguments: tuple[Any, ...] | list[Any]) -> list[Any]:
    # Jobs carry ids only (DESIGN.md); a list of ids is shortened for the line.
    shown: list[Any] = []
    for argument in arguments:
        if isinstance(argument, list) and len(argument) > 5:
            shown.append([*argument[:5], f"... {len(argument) - 5} more"])
        else:
            shown.append(argument)
    return shown


def job_done(job: Job, *, queue: str, succeeded: bool, seconds: float) -> None:
    """Record one job run: its metrics and its summary line."""
    name = job_name(job)
    timed_out = bool(_state["timed_out"])
    outcome = "succeeded" if succeeded else "timed_out" if timed_out else "failed"
    JOB_DURATION.labels(queue=queue, job=name, outcome=outcome).observe(seconds)
    if not succeeded:
        JOB_FAILURES.labels(queue=queue, job=name).inc()
    bound = {key: value for key, value in _state["context"].items() if key != "job"}
    fields: dict[str, Any] = {
        "queue": queue,
        "job": name,
        "job_id": job.id,
        "outcome": outcome,
        "duration_ms": round(seconds * 1000, 2),
        "retries_left": job.retries_left,
        "args": _ids(job.args),
        "merchant_id": bound.pop("merchant_id", None),
        **bound,
    }
    if succeeded:
        _log.info("job.finished", **fields)
    else:
        _log.warning("job.finished", **fields)
    _state["context"] = {}
    _state["timed_out"] = False
