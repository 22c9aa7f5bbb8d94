"""Serving the sandbox's app with uvicorn on the loopback interface, with its
background work (daily settlement, webhook posts) running beside it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Final

import structlog
import uvicorn

from gateway.processors.simulator import Simulator
from gateway.sandbox.app import SandboxApp

HOST: Final = "127.0.0.1"
SETTLE_EVERY_S: Final = 60.0

_log = structlog.get_logger("gateway.sandbox")

Background = Callable[[], Coroutine[Any, Any, None]]


def server(app: SandboxApp, port: int, host: str = HOST) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


async def serve(server_: uvicorn.Server, background: Sequence[Background] = ()) -> None:
    """Run until the server stops (a signal, or `server_.should_exit`); the
    background tasks are cancelled then."""
    tasks = [asyncio.create_task(work()) for work in background]
    try:
        await server_.serve()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def periodically(
    work: Callable[[], Awaitable[object]], *, every_s: float, failure_event: str
) -> Background:
    """`work` every `every_s` seconds while the server runs; a failed run is logged
    and tried again at the next tick (the database may be back by then)."""

    async def run() -> None:
        while True:
            try:
                await work()
            except Exception:  # noqa: BLE001 - retried at the next tick
                _log.exception(failure_event)
            await asyncio.sleep(every_s)

    return run


def daily_settlement(simulator: Simulator, every_s: float = SETTLE_EVERY_S) -> Background:
    """Settle, as Authorize.Net does after each day's cut-off: each run settles what
    joined the queue before the last cut-off, so running often is harmless."""
    return periodically(
        simulator.settle, every_s=every_s, failure_event="sandbox.settlement_failed"
    )
