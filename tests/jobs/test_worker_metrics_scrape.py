"""Issue 21 point 1: an API (`gateway serve`) and a worker pool (`gateway worker
--pool 2`) run as separate processes sharing a multiprocess folder; the API's
scrape shows the workers' job counters after the workers are gone, with the
payments and processor calls the API made, and the dead workers' files are
merged away rather than left to pile up."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from redis import Redis

from gateway.core.queues import rq_queue
from tests.fixtures.payments import charge_body
from tests.served_api import served_process
from tests.support import metric_samples
from tests.webhooks.conftest import committed_admin_key

GATEWAY = str(Path(sys.executable).with_name("gateway"))
REPOSITORY = Path(__file__).resolve().parents[2]


def explode() -> None:
    raise RuntimeError("this job always fails")


def _pid(path: Path) -> int | None:
    raw = path.stem.rpartition("_")[2]
    return int(raw) if raw.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_the_api_scrape_shows_the_counters_of_workers_that_have_exited(
    job_environment: Redis, tmp_path: Path
) -> None:
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    shared = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    with served_process(shared) as (url, api):
        key = committed_admin_key("Scrape Shop")
        purchase = httpx.post(
            f"{url}/api/v1/payments/purchase",
            json=charge_body(2500),
            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "scrape-1"},
            timeout=30,
        )
        assert purchase.status_code == 201, purchase.text

        maintenance = rq_queue("maintenance", job_environment)
        for _ in range(3):
            maintenance.enqueue("jobs.maintenance.purge_idempotency_keys")
        maintenance.enqueue(explode)
        worker = subprocess.run(  # noqa: S603 - our own command line
            [GATEWAY, "worker", "--burst", "--pool", "2"],
            cwd=REPOSITORY,
            env={
                **os.environ,
                **shared,
                "PYTHONPATH": str(REPOSITORY),  # `explode` lives in this module
                "GATEWAY_LOG_LEVEL": "WARNING",
            },
            timeout=120,
            check=False,
        )
        assert worker.returncode == 0
        time.sleep(0.2)
        scrape = httpx.get(f"{url}/api/v1/metrics", timeout=10)
        assert scrape.status_code == 200
        text = scrape.text
        left = sorted(path.name for path in metrics_dir.glob("*.db"))
        stale = [name for name in left if (pid := _pid(Path(name))) and not _alive(pid)]
        assert api.poll() is None

    durations = metric_samples(text, "gateway_job_duration_seconds_count")
    purged = (("job", "purge_idempotency_keys"), ("outcome", "succeeded"), ("queue", "maintenance"))
    assert durations[purged] == 3
    failed = (("job", "explode"), ("outcome", "failed"), ("queue", "maintenance"))
    assert durations[failed] == 1
    failures = metric_samples(text, "gateway_job_failures_total")
    assert failures[(("job", "explode"), ("queue", "maintenance"))] == 1

    bought = (("currency", "USD"), ("outcome", "approved"), ("type", "purchase"))
    assert metric_samples(text, "gateway_payments_total")[bought] == 1
    assert metric_samples(text, "gateway_payment_amount_minor_total")[bought] == 2500
    calls = metric_samples(text, "gateway_processor_call_duration_seconds_count")
    assert calls[(("operation", "purchase"), ("outcome", "approved"), ("processor", "simulator"))]
    workers = metric_samples(text, "gateway_workers")
    assert set(workers) == {
        (("queue", name),)
        for name in ("webhooks", "billing", "deliveries", "simulator", "maintenance")
    }

    # Requests are labelled by route template (Litestar's middleware).
    requests = metric_samples(text, "gateway_requests_total")
    assert any(dict(labels).get("path") == "/api/v1/payments/purchase" for labels in requests)

    # The exited workers' files were folded into the merged ones.
    assert any(name.endswith("_merged.db") for name in left)
    assert stale == [], "files of dead processes were left"
