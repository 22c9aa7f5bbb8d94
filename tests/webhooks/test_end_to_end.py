"""The whole loop on one machine, as `make run` runs it (issue points 4, 6, 7): a
purchase through a served API makes the simulator owe a signed webhook; a forking
`gateway worker` posts it to the API's own /webhooks/simulator and then processes
the stored event; the merchant sees it in the admin listing; the worker's
metrics show at the API's /metrics."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis

from tests.fixtures.payments import charge_body
from tests.support import closed_port, metric_samples
from tests.webhooks.conftest import committed_admin_key

pytestmark = pytest.mark.slow

GATEWAY = str(Path(sys.executable).with_name("gateway"))
REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture
def served(workers: Redis, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """`gateway serve` on a free port, with the worker environment; its URL and that
    environment (multiprocess metrics in a folder both processes share)."""
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    port = closed_port()
    environment = {
        **os.environ,
        "GATEWAY_PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "GATEWAY_LOG_LEVEL": "WARNING",
    }
    api = subprocess.Popen(  # noqa: S603 - our own command line
        [GATEWAY, "serve"], cwd=REPOSITORY, env=environment
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert api.poll() is None, "gateway serve exited"
            assert time.monotonic() < deadline, "gateway serve never answered"
            try:
                if httpx.get(f"{url}/api/v1/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url, environment
    finally:
        api.terminate()
        api.wait(timeout=30)


def test_a_purchase_makes_a_signed_simulator_webhook_that_a_forking_worker_processes(
    served: tuple[str, dict[str, str]],
) -> None:
    url, environment = served
    headers = {"Authorization": f"Bearer {committed_admin_key('Loop Shop')}"}
    purchase = httpx.post(
        f"{url}/api/v1/payments/purchase",
        json=charge_body(2500),
        headers={**headers, "Idempotency-Key": "loop-1"},
        timeout=30,
    )
    assert purchase.status_code == 201, purchase.text

    events: list[dict[str, Any]] = []
    for _ in range(8):
        # RQ's default worker: each job in a forked child, with the scheduler.
        worker = subprocess.run(  # noqa: S603 - our own command line
            [GATEWAY, "worker", "--burst"],
            cwd=REPOSITORY,
            env=environment,
            timeout=120,
            check=False,
        )
        assert worker.returncode == 0
        listed = httpx.get(f"{url}/api/v1/webhooks/events", headers=headers, timeout=10)
        assert listed.status_code == 200, listed.text
        events = listed.json()["data"]
        if events and events[0]["status"] == "processed":
            break
        time.sleep(0.2)

    assert len(events) == 1, events
    [event] = events
    assert event["source"] == "simulator"
    assert event["event_type"] == "net.authorize.payment.authcapture.created"
    assert event["entity_id"] == purchase.json()["processor_transaction_id"]
    assert (event["status"], event["outcome"]) == ("processed", "unchanged")
    assert purchase.json()["status"] == "captured"

    metrics = httpx.get(f"{url}/api/v1/metrics", timeout=10).text
    processed = metric_samples(metrics, "gateway_webhook_events_processed_total")
    assert processed[(("outcome", "unchanged"), ("source", "simulator"))] >= 1, (
        "counted in a worker, shown by the API"
    )
    received = metric_samples(metrics, "gateway_webhooks_received_total")
    accepted = (
        ("event_type", "net.authorize.payment.authcapture.created"),
        ("result", "accepted"),
        ("source", "simulator"),
    )
    assert received[accepted] >= 1
    assert (
        metric_samples(metrics, "gateway_webhook_lag_seconds_count")[(("source", "simulator"),)]
        >= 1
    )
    depth = metric_samples(metrics, "gateway_queue_jobs")
    assert depth[(("queue", "webhooks"), ("state", "waiting"))] == 0
    assert (("queue", "simulator"),) in metric_samples(
        metrics, "gateway_queue_oldest_job_age_seconds"
    )
