"""What goes wrong during a chaos run, at random moments: SIGKILLs of the API and
of workers, Redis killed and started again empty, every PostgreSQL connection
dropped, and over the wire the processor (the sandbox) killed and started again.
A process manager's loop starts again whatever died, and a fast reconciliation
tick stands in for cron's minute."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

import redis
import structlog
from rq.job import JobStatus

from gateway.core import queues
from ops.chaos.fleet import API, Fleet
from ops.chaos.servers import ChaosDatabase, RedisServer

_log = structlog.get_logger("chaos")

# The background work a run enqueues far more often than cron would, as
# (queue, job): so that it happens, and is killed between its phases, during the
# run. Cron's own ticks still run besides.
SWEEPS = (
    ("maintenance", "jobs.payments.reconcile_pending"),
    ("maintenance", "jobs.payments.expire_authorizations"),
    ("maintenance", "jobs.payments.compensate_orphans"),
    ("billing", "jobs.billing.billing_tick"),
)
# Not STARTED: a job whose worker was killed stays "started" until RQ cleans up,
# and a second tick while one truly runs is skipped by its advisory lock.
_WAITING = frozenset({JobStatus.QUEUED, JobStatus.SCHEDULED})
# Fewer operations than this (the short run over the wire): fewer mishaps.
_SHORT = 100


class Action(StrEnum):
    KILL_API = "kill api"
    KILL_WORKER = "kill worker"
    RESTART_REDIS = "redis restart"
    DROP_CONNECTIONS = "postgres connection drop"
    RESTART_SANDBOX = "sandbox restart"


@dataclass(frozen=True)
class Plan:
    """How many of each mishap a run suffers, spread at random over its traffic."""

    api_kills: int
    worker_kills: int
    redis_restarts: int
    connection_drops: int
    sandbox_restarts: int = 0

    @classmethod
    def for_operations(cls, operations: int, *, sandbox: bool = False) -> Plan:
        """`sandbox`: the run has one to restart (over the wire)."""
        sandbox_restarts = max(1, operations // 200) if sandbox else 0
        if operations < _SHORT:
            # One kill of each, one connection drop and no Redis restart: the jobs
            # Redis loses come back only after the outbox's minute (jobs/outbox.py),
            # a wait longer than such a run.
            return cls(1, 1, 0, 1, sandbox_restarts)
        rare = max(1, operations // 500)
        often = max(2, operations // 50)
        return cls(often, often, rare, rare, sandbox_restarts)

    def schedule(self, rng: random.Random) -> list[tuple[float, Action]]:
        """(fraction of the traffic done, action), in order; none in the first or
        last 5%, so that the run starts and ends with something to break."""
        counts = {
            Action.KILL_API: self.api_kills,
            Action.KILL_WORKER: self.worker_kills,
            Action.RESTART_REDIS: self.redis_restarts,
            Action.DROP_CONNECTIONS: self.connection_drops,
            Action.RESTART_SANDBOX: self.sandbox_restarts,
        }
        events = [
            (rng.uniform(0.05, 0.95), action) for action, n in counts.items() for _ in range(n)
        ]
        return sorted(events)


@dataclass
class Mayhem:
    fleet: Fleet
    redis_server: RedisServer
    database: ChaosDatabase
    rng: random.Random
    # Over the wire: the sandbox's process, and its database (whose connections
    # are dropped with the gateway's).
    sandbox: str | None = None
    sandbox_database: ChaosDatabase | None = None
    done: Counter[Action] = field(default_factory=Counter)
    # Background work that failed while things were broken (retried by its next run).
    failures: Counter[str] = field(default_factory=Counter)

    async def run(self, plan: Plan, progress: Callable[[], float], stop: asyncio.Event) -> None:
        for at, action in plan.schedule(self.rng):
            while progress() < at:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.1)
                if stop.is_set():
                    return
            await self.act(action)

    async def act(self, action: Action) -> None:
        if action is Action.RESTART_REDIS:
            await asyncio.to_thread(self.redis_server.restart, self.rng.uniform(0.5, 2.0))
        elif action is Action.DROP_CONNECTIONS:
            _log.info("chaos.dropped", backends=await self.database.drop_connections())
            if self.sandbox_database is not None:
                dropped = await self.sandbox_database.drop_connections()
                _log.info("chaos.dropped", sandbox_backends=dropped)
        elif action is Action.RESTART_SANDBOX:
            # SIGKILL; the process manager's loop starts it again on the same port.
            if self.sandbox is None or not self.fleet.kill(self.sandbox):
                return
        else:
            name = API if action is Action.KILL_API else self.rng.choice(self.fleet.workers)
            if not self.fleet.kill(name):
                return  # already down (the fault hook got there first)
        self.done[action] += 1
        _log.info("chaos.acted", action=action.value)


async def keep_alive(fleet: Fleet, stop: asyncio.Event) -> None:
    """The process manager: start again whatever died."""
    while not stop.is_set():
        revived = fleet.revive()
        if revived:
            _log.info("chaos.revived", processes=revived)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)


async def sweep_often(redis_url: str, every_s: float, stop: asyncio.Event) -> None:
    """Enqueue reconciliation, expiry, compensation and the billing tick far more
    often than cron's minutes, so that workers run them (and get killed while
    running them) during the run."""

    def enqueue() -> None:
        connection = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        try:
            for queue_name, job in SWEEPS:
                queue = queues.rq_queue(queue_name, connection)
                # One of each waiting at a time: a backlog of ticks would starve the
                # workers' other queues and run the sweeps late, not more often.
                job_id = "chaos-" + job.rsplit(".", 1)[1].replace("_", "-")
                waiting = queue.fetch_job(job_id)
                if waiting is None or waiting.get_status() not in _WAITING:
                    queue.enqueue(job, job_id=job_id)
        except redis.RedisError:
            pass  # Redis is being restarted: the next tick will do
        finally:
            connection.close()

    while not stop.is_set():
        await asyncio.to_thread(enqueue)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


async def settle_often(
    command: Callable[[], Awaitable[None]], every_s: float, stop: asyncio.Event
) -> None:
    """Settlement far more often than the daily cut-off, so that refunds of settled
    charges (real refunds at the processor) happen during the run too."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
        if not stop.is_set():
            await command()
