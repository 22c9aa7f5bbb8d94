"""`gateway jobs failed|requeue`: RQ's failed registries of every queue."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result
from redis import Redis
from rq import SimpleWorker
from rq.registry import FailedJobRegistry

from gateway.cli import main
from gateway.core.queues import SERIALIZER, rq_queue
from tests.jobs.conftest import job_environment  # noqa: F401 - a fixture


def gateway(*arguments: str) -> Result:
    return CliRunner().invoke(main, list(arguments))


@pytest.fixture
def failed_jobs(job_environment: Redis) -> dict[str, str]:  # noqa: F811 - imported fixture
    """A job that fails (no retry left) on two queues."""
    made = {}
    for name in ("billing", "maintenance"):
        queue = rq_queue(name, job_environment)
        made[name] = queue.enqueue("builtins.int", "not a number").id
        SimpleWorker([queue], connection=job_environment, serializer=SERIALIZER).work(burst=True)
    return made


def test_failed_lists_every_queue(failed_jobs: dict[str, str]) -> None:
    result = gateway("jobs", "failed", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["id"]: row for row in json.loads(result.stdout)["data"]}
    assert set(rows) == set(failed_jobs.values())
    billing = rows[failed_jobs["billing"]]
    assert (billing["queue"], billing["function"], billing["argument"]) == (
        "billing",
        "builtins.int",
        "not a number",
    )
    assert billing["error"].startswith("ValueError")
    only = json.loads(gateway("jobs", "failed", "--queue", "maintenance", "--json").stdout)
    assert [row["id"] for row in only["data"]] == [failed_jobs["maintenance"]]
    assert "ValueError" in gateway("jobs", "failed").stdout


def test_requeue_by_id_puts_the_job_back_on_its_queue(
    failed_jobs: dict[str, str],
    job_environment: Redis,  # noqa: F811 - imported fixture
) -> None:
    result = gateway("jobs", "requeue", failed_jobs["billing"], "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"requeued": [failed_jobs["billing"]]}
    billing = rq_queue("billing", job_environment)
    assert billing.job_ids == [failed_jobs["billing"]]
    assert FailedJobRegistry(queue=billing).count == 0


def test_requeue_all_of_a_queue(
    failed_jobs: dict[str, str],
    job_environment: Redis,  # noqa: F811 - imported fixture
) -> None:
    result = gateway("jobs", "requeue", "--queue", "maintenance", "--all")
    assert result.exit_code == 0, result.output
    assert "requeued 1 job(s)" in result.stdout
    assert rq_queue("maintenance", job_environment).count == 1
    assert FailedJobRegistry(queue=rq_queue("billing", job_environment)).count == 1


def test_an_unknown_job_exits_1(failed_jobs: dict[str, str]) -> None:
    result = gateway("jobs", "requeue", "no-such-job")
    assert result.exit_code == 1
    assert "no-such-job" in result.stderr


@pytest.mark.parametrize("arguments", [["jobs", "requeue"], ["jobs", "requeue", "x", "--all"]])
def test_requeue_needs_ids_or_all(arguments: list[str]) -> None:
    assert gateway(*arguments).exit_code == 2
