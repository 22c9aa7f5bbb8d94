"""`gateway dashboard`: rq-dashboard on the configured Redis, behind basic auth
from the settings (rq-dashboard 0.9 imports `six` without declaring it: ours does)."""

from __future__ import annotations

import base64
import importlib.metadata
import json

import msgspec
from redis import Redis
from werkzeug.test import Client

from gateway.cli.processes import dashboard_app
from gateway.core.queues import rq_queue
from gateway.core.settings import Settings


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_six_is_a_declared_dependency() -> None:
    requirements = importlib.metadata.requires("gateway") or []
    assert any(requirement.startswith("six") for requirement in requirements)


def test_the_dashboard_asks_for_its_password_and_shows_the_queues(
    settings: Settings, test_redis_url: str
) -> None:
    settings = msgspec.structs.replace(
        settings,
        dashboard=msgspec.structs.replace(settings.dashboard, user="ops", password="s3cret"),
    )
    connection = Redis.from_url(test_redis_url)
    try:
        jobs = [
            rq_queue(name, connection).enqueue("builtins.len", "abc", meta={"by": "test"})
            for name in ("webhooks", "simulator")
        ]
        client = Client(dashboard_app(settings))

        assert client.get("/").status_code == 401
        assert client.get("/", headers=_basic("ops", "wrong")).status_code == 401
        page = client.get("/", headers=_basic("ops", "s3cret"))
        assert page.status_code == 200
        queues = client.get("/0/data/queues.json", headers=_basic("ops", "s3cret"))
        assert queues.status_code == 200
        names = {queue["name"] for queue in queues.get_json()["queues"]}
        assert {"webhooks", "simulator"} <= names
        # The jobs are JSON, and the dashboard reads them as JSON.
        job = client.get(f"/0/data/job/{jobs[0].id}.json", headers=_basic("ops", "s3cret"))
        assert job.status_code == 200
        assert job.get_json()["description"] == "builtins.len('abc')"
        assert json.loads(job.get_json()["metadata"]) == {"by": "test"}
    finally:
        for name in ("webhooks", "simulator"):
            rq_queue(name, connection).empty()
        connection.close()
