"""Embedded PostgreSQL and Redis start under a data folder and stop completely."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest
import redis

from gateway.core.embedded import embedded_servers
from tests.support import closed_port, redis_servers_in, run_in_thread

pytestmark = pytest.mark.slow


def _processes_using(folder: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(folder) in cmdline and process.pid != os.getpid():
            found.append(process)
    return found


def test_embedded_servers_answer_and_stop(tmp_path: Path) -> None:
    with embedded_servers(tmp_path) as urls:
        assert urls.database_url is not None
        assert urls.redis_url is not None
        assert urls.redis_url.startswith("unix://")

        async def query() -> int:
            url = urls.database_url.replace("postgresql+asyncpg://", "postgresql://")  # type: ignore[union-attr]
            connection = await asyncpg.connect(url)
            try:
                return int(await connection.fetchval("SELECT 41 + 1"))
            finally:
                await connection.close()

        assert run_in_thread(lambda: asyncio.run(query())) == 42
        assert redis.Redis.from_url(urls.redis_url).ping()
        assert _processes_using(tmp_path / "postgres")
        assert redis_servers_in(tmp_path), "the embedded Redis runs in the data folder"
    assert not _processes_using(tmp_path / "postgres")
    assert not redis_servers_in(tmp_path)
    assert (tmp_path / "postgres" / "PG_VERSION").exists(), "data is kept for the next run"


def test_serve_runs_on_embedded_servers_and_leaves_nothing_behind(tmp_path: Path) -> None:
    port = closed_port()
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL") and not key.startswith("GATEWAY_")
    }
    environ.update({"GATEWAY_DATA_DIR": str(tmp_path), "GATEWAY_PORT": str(port)})
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve"],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90  # only detects a hang
        health = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.3)
        assert health is not None, "the API never came up"
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        assert (tmp_path / "secrets.json").exists(), "development secrets are persisted"
        assert redis_servers_in(tmp_path)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode in (0, 128 + signal.SIGTERM), stderr.decode()[-2000:]
    assert not _processes_using(tmp_path)
    assert not redis_servers_in(tmp_path)
