"""The RQ worker that does not fork per job (issue 20 point 4).

RQ's forking worker pays a fork, a settings load, an engine, a Redis client and
a processor registry per job, and RQ 3 runs each coroutine job on a fresh loop
(`asyncio.run`). `GatewayWorker` is a `SimpleWorker` that keeps, for the life
of its process, one event loop and on it one pooled engine, one Redis pool and
the processors (`WorkerRuntime`); `LoopJob` runs coroutine jobs on that loop and
`jobs.context` takes the runtime's resources when one is installed.

Without a fork, a job that hangs would keep running into the next job, so the
timeout is enforced twice:

- on the loop: the job's task runs under `asyncio.timeout(job.timeout)`; when it
  expires the task is cancelled (its `finally` blocks and rollbacks run) and the
  job fails with RQ's `JobTimeoutException`;
- as a backstop, RQ's SIGALRM death penalty `_BACKSTOP_GRACE_S` later, for a job
  that blocks the loop itself (synchronous code) or swallows its cancellation.
  The runtime it interrupted is then discarded (every task cancelled, the loop
  closed) and a fresh one built before the next job.

Tasks a job leaves behind are cancelled when it ends. A worker SIGKILLed mid-job
is what the forking worker's dead horse was: the job stays in RQ's started
registry until its heartbeat lapses, and the money runner's phases keep the
charge at most once (the tests under tests/jobs and tests/webhooks).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ctypes
import math
import signal
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import structlog
from rq.job import Job
from rq.queue import Queue
from rq.timeouts import BaseDeathPenalty, JobTimeoutException
from rq.worker import SimpleWorker
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.composition import processors
from gateway.composition.resources import database_engine, field_crypto, redis_client
from gateway.core import job_metrics
from gateway.core.clock import Clock, SystemClock
from gateway.core.crypto import FieldCrypto
from gateway.core.db import create_session_factory
from gateway.core.devsecrets import with_development_secrets
from gateway.core.faults import FaultPoints
from gateway.core.logging import configure_logging_for
from gateway.core.settings import Settings, load_settings
from gateway.processors.registry import ProcessorRegistry
from gateway.processors.simulator import Simulator

_log = structlog.get_logger("gateway.worker")

# How long after a job's timeout the SIGALRM backstop fires.
_BACKSTOP_GRACE_S: Final = 10
# How long a cancelled task gets to unwind (rollbacks) before it is abandoned.
_UNWIND_S: Final = 5.0
_PR_SET_PDEATHSIG: Final = 1


@dataclass
class WorkerRuntime:
    """What one worker process keeps for its life, all made on `loop`."""

    loop: asyncio.AbstractEventLoop
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    simulator_engine: AsyncEngine
    redis: Any  # redis.asyncio.Redis (untyped generic)
    clock: Clock
    crypto: FieldCrypto
    processors: ProcessorRegistry
    simulator: Simulator
    faults: FaultPoints
    # Set by the death penalty for the job being run; None: no limit.
    timeout_s: float | None = None
    # The backstop interrupted the loop: what ran on it cannot be trusted.
    broken: bool = False

    @classmethod
    def start(cls, settings: Settings) -> WorkerRuntime:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        engine = database_engine(settings, pooled=True)
        simulator_engine = database_engine(settings, pooled=True)
        redis = redis_client(settings)
        clock = SystemClock()

        async def build() -> tuple[Simulator, ProcessorRegistry]:
            # Built on the loop: the processors' clients bind to the running loop.
            simulator = processors.simulator(
                settings, engine=simulator_engine, redis=redis, clock=clock
            )
            return simulator, processors.processor_registry(settings, simulator, redis, clock)

        simulator, registry = loop.run_until_complete(build())
        return cls(
            loop=loop,
            settings=settings,
            engine=engine,
            sessions=create_session_factory(engine),
            simulator_engine=simulator_engine,
            redis=redis,
            clock=clock,
            crypto=field_crypto(settings),
            processors=registry,
            simulator=simulator,
            faults=FaultPoints.parse(settings.core.fault_injection),
        )

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run a job's coroutine on the loop under the job's timeout. The log
        context it bound (merchant, ids), whatever its end, goes to its summary
        line."""
        context = contextvars.copy_context()
        before = asyncio.all_tasks(self.loop)
        task = self.loop.create_task(_bounded(coroutine, self.timeout_s), context=context)
        try:
            return self.loop.run_until_complete(task)
        finally:
            self._cancel_leftovers(before)
            job_metrics.remember_context(context.run(structlog.contextvars.get_contextvars))

    def _cancel_leftovers(self, before: set[asyncio.Task[Any]]) -> None:
        left = asyncio.all_tasks(self.loop) - before
        if not left:
            return
        for task in left:
            task.cancel()
        with contextlib.suppress(Exception):
            self.loop.run_until_complete(asyncio.wait(left, timeout=_UNWIND_S))

    def close(self) -> None:
        """Release the pools and close the loop; safe on a loop a backstop broke."""
        self._cancel_leftovers(set())

        async def release() -> None:
            await self.processors.aclose()
            await self.redis.aclose()
            await self.engine.dispose()
            await self.simulator_engine.dispose()

        with contextlib.suppress(Exception):
            self.loop.run_until_complete(asyncio.wait_for(release(), timeout=_UNWIND_S))
        self.loop.close()


async def _bounded(coroutine: Coroutine[Any, Any, Any], timeout_s: float | None) -> Any:
    if timeout_s is None:
        return await coroutine
    limit = asyncio.timeout(timeout_s)
    try:
        async with limit:
            return await coroutine
    except TimeoutError:
        if limit.expired():
            job_metrics.note_timeout()
            raise JobTimeoutException(
                f"Task exceeded maximum timeout value ({timeout_s:g} seconds)"
            ) from None
        raise  # the job's own timeout, not ours


_runtime: WorkerRuntime | None = None
# Given by the command that starts the workers (embedded servers' URLs are known
# only there); inherited by the pool's forked workers.
_settings: Settings | None = None


def current_runtime() -> WorkerRuntime | None:
    """The runtime of this worker process, None outside a `GatewayWorker`."""
    return _runtime


def use_settings(settings: Settings) -> None:
    global _settings  # noqa: PLW0603 - one per process, set before the workers start
    _settings = settings


def _start_runtime() -> WorkerRuntime:
    global _runtime  # noqa: PLW0603 - one per process
    settings = _settings or with_development_secrets(load_settings())
    configure_logging_for(settings)
    _runtime = WorkerRuntime.start(settings)
    return _runtime


def _stop_runtime() -> None:
    global _runtime  # noqa: PLW0603 - one per process
    if _runtime is not None:
        _runtime.close()
        _runtime = None


class LoopJob(Job):
    """A job whose coroutine runs on the worker's loop (not `asyncio.run`)."""

    def _execute(self) -> Any:
        runtime = current_runtime()
        if runtime is None:
            return super()._execute()
        if not self.func:
            raise ValueError("Cannot execute job: function is None")
        result = self.func(*self.args, **self.kwargs)
        if not asyncio.iscoroutine(result):
            return result
        return runtime.run(result)


class LoopDeathPenalty(BaseDeathPenalty):
    """The job's timeout: cancellation on the loop, then SIGALRM as a backstop."""

    backstop_grace_s: ClassVar[int] = _BACKSTOP_GRACE_S

    def __init__(
        self, timeout: float, exception: type[Exception] = JobTimeoutException, **kwargs: Any
    ) -> None:
        super().__init__(timeout, exception, **kwargs)  # type: ignore[no-untyped-call]
        self._limit = float(timeout) if timeout is not None and timeout > 0 else None

    def setup_death_penalty(self) -> None:
        runtime = current_runtime()
        if runtime is not None:
            runtime.timeout_s = self._limit
        if self._limit is not None:
            signal.signal(signal.SIGALRM, self._backstop)
            signal.alarm(math.ceil(self._limit) + self.backstop_grace_s)

    def _backstop(self, _signum: int, _frame: object) -> None:
        runtime = current_runtime()
        if runtime is not None:
            runtime.broken = True
        job_metrics.note_timeout()
        raise self._exception(
            f"Task exceeded maximum timeout value ({self._limit:g} seconds), cancellation ignored"
        )

    def cancel_death_penalty(self) -> None:
        if self._limit is not None:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
        runtime = current_runtime()
        if runtime is not None:
            runtime.timeout_s = None


class GatewayWorker(SimpleWorker):
    """A non-forking RQ worker on one loop and one set of pools for its life;
    one summary line, and duration and failure metrics, per job."""

    death_penalty_class = LoopDeathPenalty
    job_class = LoopJob
    # Set in the pool's children: a worker dies with its pool (PDEATHSIG), since a
    # pool SIGKILLed must not leave workers running jobs nobody supervises.
    die_with_parent: ClassVar[bool] = False

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's heartbeat, its three commands sent in one round trip: RQ sends them
        one by one when it has no pipeline at hand, three times per job."""
        if pipeline is not None:
            super().heartbeat(timeout, pipeline=pipeline)
            return
        with self.connection.pipeline(transaction=False) as batch:
            super().heartbeat(timeout, pipeline=batch)
            batch.execute()

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        if self.die_with_parent:
            with contextlib.suppress(OSError, AttributeError):
                ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if current_runtime() is None:
            _start_runtime()
        super().bootstrap(*args, **kwargs)

    def teardown(self) -> None:
        try:
            super().teardown()  # type: ignore[no-untyped-call]
        finally:
            _stop_runtime()

    def perform_job(self, job: Job, queue: Queue, execution: Any) -> bool:
        structlog.contextvars.clear_contextvars()
        job_metrics.start_job()
        started = time.perf_counter()
        succeeded = False
        try:
            succeeded = super().perform_job(job, queue, execution)
        finally:
            job_metrics.job_done(
                job, queue=queue.name, succeeded=succeeded, seconds=time.perf_counter() - started
            )
            structlog.contextvars.clear_contextvars()
            self._renew_runtime_if_broken()
        return succeeded

    def _renew_runtime_if_broken(self) -> None:
        runtime = current_runtime()
        if runtime is None or not (runtime.broken or _has_pending(runtime)):
            return
        _log.warning("worker.runtime_renewed", reason="a job outlived its timeout")
        _stop_runtime()
        _start_runtime()


def _has_pending(runtime: WorkerRuntime) -> bool:
    return bool(asyncio.all_tasks(runtime.loop))
