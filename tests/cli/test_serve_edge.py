"""`gateway serve` at the edge (issue 19 point 5), against the real server on a
loopback port: header size limit, header-read timeout (slowloris), idle
keep-alive connections, the connection cap, the fixed response headers on every
answer, and a docs page that loads nothing from elsewhere."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psutil
import pytest

from gateway.core.setting_types import SettingsError
from gateway.core.settings import HttpSettings, load_settings
from tests.served_api import served_process

HEADER_READ_TIMEOUT_S = 1.0
MAX_CONNECTIONS = 4
MAX_HEADER_BYTES = 16 * 1024


@dataclass(frozen=True)
class Served:
    url: str
    port: int
    process: subprocess.Popen[bytes]

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def memory(self) -> int:
        """Resident memory of the server and its worker, in bytes."""
        parent = psutil.Process(self.process.pid)
        return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)])


@pytest.fixture(scope="module")
def served(
    database_url: str, test_redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """One `gateway serve` worker with short edge limits, for the whole module."""
    environment = {
        "GATEWAY_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": test_redis_url,
        "GATEWAY_DATA_DIR": str(tmp_path_factory.mktemp("edge-data")),
        "GATEWAY_API_WORKERS": "1",
        "GATEWAY_HTTP_HEADER_READ_TIMEOUT_S": str(HEADER_READ_TIMEOUT_S),
        "GATEWAY_HTTP_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
        "GATEWAY_HTTP_MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
        "PROMETHEUS_MULTIPROC_DIR": None,
    }
    with served_process(environment) as (url, process):
        yield Served(url, int(url.rsplit(":", 1)[1]), process)


def _closed_within(connection: socket.socket, limit_s: float) -> float | None:
    """Seconds until the server closes `connection`, or None if it is still open."""
    started = time.monotonic()
    connection.settimeout(limit_s)
    try:
        while connection.recv(4096):
            pass
    except TimeoutError:
        return None
    except OSError:
        pass  # a reset is a close too
    return time.monotonic() - started


@pytest.mark.slow
def test_an_oversized_header_is_refused_with_431(served: Served) -> None:
    with served.connect() as connection:
        connection.sendall(
            b"GET /api/v1/health/live HTTP/1.1\r\nHost: x\r\nX-Big: "
            + b"a" * (64 * 1024)
            + b"\r\n\r\n"
        )
        assert connection.recv(100).startswith(b"HTTP/1.1 431 ")
    with served.connect() as connection:
        connection.sendall(b"GET /" + b"a" * (64 * 1024) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert connection.recv(100).startswith(b"HTTP/1.1 431 ")


@pytest.mark.slow
def test_a_64_mib_header_is_cut_off_early_and_the_server_does_not_grow(served: Served) -> None:
    before = served.memory()
    chunk = b"a" * (64 * 1024)
    accepted = 0
    with served.connect() as connection:
        try:
            connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
            while accepted < 64 * 1024 * 1024:
                connection.sendall(chunk)
                accepted += len(chunk)
        except OSError:
            pass  # the server closed the connection: what this test wants
    # Socket buffers hold a few MiB at most; the server stopped reading long before.
    assert accepted < 16 * 1024 * 1024
    assert served.memory() - before < 8 * 1024 * 1024
    assert httpx.get(f"{served.url}/api/v1/health/live", timeout=5).status_code == 200


@pytest.mark.slow
def test_a_slowloris_client_is_disconnected_after_the_header_read_timeout(
    served: Served,
) -> None:
    started = time.monotonic()
    with served.connect() as connection:
        try:
            for byte in b"GET /api/v1/health/live HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
                connection.send(bytes([byte]))
                time.sleep(0.1)
            pytest.fail("a client trickling its headers was never disconnected")
        except OSError:
            pass
    assert HEADER_READ_TIMEOUT_S * 0.8 < time.monotonic() - started < HEADER_READ_TIMEOUT_S * 4


@pytest.mark.slow
def test_silent_and_idle_keep_alive_connections_are_closed(served: Served) -> None:
    with served.connect() as silent:
        closed = _closed_within(silent, HEADER_READ_TIMEOUT_S * 4)
        assert closed is not None, "a connection that sends nothing is held"
    with served.connect() as kept_alive:
        kept_alive.sendall(b"GET /api/v1/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        assert kept_alive.recv(4096).startswith(b"HTTP/1.1 200 ")
        assert _closed_within(kept_alive, HEADER_READ_TIMEOUT_S * 4) is not None


@pytest.mark.slow
def test_idle_connections_beyond_the_cap_do_not_stop_a_normal_request(served: Served) -> None:
    idle = [served.connect() for _ in range(MAX_CONNECTIONS * 3)]
    try:
        started = time.monotonic()
        response = httpx.get(f"{served.url}/api/v1/health/live", timeout=10)
        assert response.status_code == 200
        # At worst it waited for the idle ones to be cut off.
        assert time.monotonic() - started < HEADER_READ_TIMEOUT_S * 4
    finally:
        for connection in idle:
            connection.close()


@pytest.mark.slow
def test_every_response_carries_no_store_and_nosniff(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as client:
        answers = [
            client.get("/api/v1/health/live"),  # plain JSON
            client.get("/api/v1/payments/txn_01"),  # 401 problem+json
            client.get("/no/such/path"),  # a routing 404
            client.post("/api/v1/payments/purchase", content=b"{"),  # before any route logic
            client.get("/api/v1/metrics"),
            client.get("/schema"),
            client.get("/schema/openapi.json"),
            client.get("/schema/assets/swagger-ui.css"),
        ]
    for response in answers:
        assert response.headers["cache-control"] == "no-store", response.url
        assert response.headers["x-content-type-options"] == "nosniff", response.url
    assert answers[1].headers["content-type"] == "application/problem+json"


@pytest.mark.slow
def test_the_docs_page_loads_only_local_assets(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as client:
        page = client.get("/schema")
        assert page.status_code == 200
        urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page.text)
        assert urls, "the page loads no script or style"
        assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls
        assert "cdn" not in page.text.lower()
        expected = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
        for url in urls:
            asset = client.get(url)
            assert asset.status_code == 200, url
            assert asset.content, url
            kind = next(kind for suffix, kind in expected.items() if url.endswith(suffix))
            assert kind in asset.headers["content-type"], url


def test_api_workers_default_to_the_cpus_in_production_and_one_otherwise() -> None:
    assert HttpSettings().api_workers_for("production") == (os.cpu_count() or 1)
    assert HttpSettings().api_workers_for("development") == 1
    assert HttpSettings().api_workers_for("test") == 1
    assert HttpSettings(api_workers=3).api_workers_for("production") == 3


def test_production_requires_a_metrics_token() -> None:
    from tests.core.test_settings import PRODUCTION_READY  # noqa: PLC0415

    assert load_settings(PRODUCTION_READY).http.metrics_token
    without = {k: v for k, v in PRODUCTION_READY.items() if k != "GATEWAY_METRICS_TOKEN"}
    with pytest.raises(SettingsError, match=r"^GATEWAY_METRICS_TOKEN: required"):
        load_settings(without)
