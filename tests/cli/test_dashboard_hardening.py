"""The RQ dashboard made fit for production (issue 19 point 7): served by waitress,
its password compared in constant time, failed logins limited per address,
every state-changing route refused, and production refusing a short password."""

from __future__ import annotations

import base64
import hmac
import threading
from collections.abc import Iterator

import httpx
import msgspec
import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from werkzeug.test import Client

from gateway.cli import dashboard_guard
from gateway.cli.dashboard_guard import FailedLogins
from gateway.cli.processes import dashboard_app, dashboard_server
from gateway.core.queues import SERIALIZER, rq_queue
from gateway.core.settings import Settings

USER, PASSWORD = "ops", "a-dashboard-password-for-tests"
QUEUE = "edge-dashboard-test"


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


GOOD = _basic(USER, PASSWORD)


def _with_dashboard(settings: Settings, **changes: object) -> Settings:
    dashboard = msgspec.structs.replace(settings.dashboard, user=USER, password=PASSWORD, **changes)
    return msgspec.structs.replace(settings, dashboard=dashboard)


@pytest.fixture
def failed_job(test_redis_url: str) -> Iterator[Queue]:
    """A queue whose failed registry holds one job."""
    connection = Redis.from_url(test_redis_url)
    queue = rq_queue(QUEUE, connection)
    queue.enqueue("builtins.int", "not a number")
    SimpleWorker([queue], connection=connection, serializer=SERIALIZER).work(burst=True)
    assert queue.failed_job_registry.count == 1
    yield queue
    for job_id in queue.failed_job_registry.get_job_ids():
        queue.failed_job_registry.remove(job_id, delete_job=True)
    queue.delete(delete_jobs=True)
    connection.close()


def test_a_get_on_requeue_is_refused_and_requeues_nothing(
    settings: Settings, failed_job: Queue
) -> None:
    client = Client(dashboard_app(_with_dashboard(settings)))
    response = client.get(f"/requeue/{QUEUE}", headers=GOOD)
    assert response.status_code == 405
    assert b"gateway jobs requeue" in response.data
    assert failed_job.failed_job_registry.count == 1
    assert failed_job.count == 0


def test_every_state_changing_post_is_refused(settings: Settings, failed_job: Queue) -> None:
    client = Client(dashboard_app(_with_dashboard(settings)))
    job_id = failed_job.failed_job_registry.get_job_ids()[0]
    for path in (
        f"/requeue/{QUEUE}",
        f"/job/{job_id}/requeue",
        f"/job/{job_id}/delete",
        f"/queue/{QUEUE}/failed/empty",
        f"/queue/{QUEUE}/compact",
    ):
        assert client.post(path, headers=GOOD).status_code == 405, path
    assert client.get(f"/job/{job_id}/delete", headers=GOOD).status_code == 405
    assert failed_job.failed_job_registry.get_job_ids() == [job_id]
    # Reading still works.
    assert client.get("/0/data/queues.json", headers=GOOD).status_code == 200


def test_wrong_passwords_get_401_then_429_until_the_window_passes(settings: Settings) -> None:
    now = [1000.0]
    failed = FailedLogins(3, window_s=60, clock=lambda: now[0])
    app = dashboard_app(_with_dashboard(settings), failed_logins=failed)
    client = Client(app)
    assert client.get("/").status_code == 401  # no credentials: not an attempt
    for _ in range(3):
        assert client.get("/", headers=_basic(USER, "guess")).status_code == 401
    limited = client.get("/", headers=GOOD)  # even the right password waits
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    other = Client(app)
    assert (
        other.get("/", headers=GOOD, environ_overrides={"REMOTE_ADDR": "10.0.0.9"}).status_code
        == 200
    )
    now[0] += 61
    assert client.get("/", headers=GOOD).status_code == 200


def test_the_limit_comes_from_the_settings(settings: Settings) -> None:
    client = Client(dashboard_app(_with_dashboard(settings, failed_logins_per_min=2)))
    codes = [client.get("/", headers=_basic(USER, "guess")).status_code for _ in range(3)]
    assert codes == [401, 401, 429]


def test_user_and_password_are_compared_in_constant_time(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(given: bytes, expected: bytes) -> bool:
        compared.append((given, expected))
        return real(given, expected)

    monkeypatch.setattr(dashboard_guard.hmac, "compare_digest", spy)
    client = Client(dashboard_app(_with_dashboard(settings)))
    assert client.get("/", headers=_basic("nobody", PASSWORD)).status_code == 401
    # A wrong user still has its password compared: no early exit to time.
    assert compared == [(b"nobody", USER.encode()), (PASSWORD.encode(), PASSWORD.encode())]


def test_the_dashboard_is_served_by_waitress(settings: Settings) -> None:
    server = dashboard_server(dashboard_app(_with_dashboard(settings)), host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.effective_port}"  # type: ignore[union-attr]
        response = httpx.get(f"{url}/", headers=GOOD, timeout=10)
        assert response.status_code == 200
        assert response.headers["server"] == "waitress"
        assert httpx.get(f"{url}/requeue/x", headers=GOOD, timeout=10).status_code == 405
    finally:
        server.task_dispatcher.shutdown()
        server.close()
