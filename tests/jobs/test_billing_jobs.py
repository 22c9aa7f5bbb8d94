"""Billing as RQ runs it: the cron tick, the outbox relay handing open invoices to
`billing` jobs, duplicated jobs, a second cron process, and a worker killed in the
middle of a charge. Real workers on the real Redis and database, on the wall clock."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import zlib
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from rq import SimpleWorker
from rq.job import Job
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from gateway.audit.models import Event
from gateway.audit.outbox import routed_work
from gateway.composition.process import lent_resources
from gateway.composition.resources import Resources, field_crypto
from gateway.core.clock import Clock, FrozenClock, SystemClock
from gateway.core.ids import new_id
from gateway.core.queues import SERIALIZER, rq_queue
from gateway.core.settings import Settings
from gateway.payments.reconciliation import reconcile_pass
from gateway.processors.simulator import Simulator
from gateway.processors.simulator.models import SimulatorRequest
from gateway.subscriptions.billing.passes import billing_pass
from gateway.subscriptions.billing.tick import BillingTick
from gateway.subscriptions.models import Invoice, InvoiceAttempt, Subscription
from jobs.billing import billing_tick, charge_invoices
from jobs.outbox import relay_outbox
from tests.subscriptions.conftest import subscribe_committed
from tests.support import run_in_thread, slow_worker, wait_while_running

T = TypeVar("T")

Work = Callable[[Resources], Awaitable[T]]


def _in_loop(settings: Settings, work: Work[T], *, clock: Clock | None = None) -> T:
    """`work` on committed sessions and a simulator of their own (on `clock`), in an
    event loop of its own, as the jobs under test run theirs."""

    async def main() -> T:
        assert settings.database.url is not None
        assert settings.redis.url is not None
        engine = create_async_engine(settings.database.url, poolclass=NullPool)
        redis = AsyncRedis.from_url(settings.redis.url)
        at = clock or SystemClock()
        try:
            simulator = Simulator(engine, redis, at)
            resources = lent_resources(
                settings,
                engine=engine,
                session_factory=async_sessionmaker(engine, expire_on_commit=False),
                redis=redis,
                clock=at,
                crypto=field_crypto(settings),
                simulator=simulator,
            )
            return await work(resources)
        finally:
            await redis.aclose()
            await engine.dispose()

    return run_in_thread(lambda: asyncio.run(main()))


def _due_renewal(settings: Settings) -> str:
    """A monthly subscription made 32 days ago: its first renewal is due now."""
    started = FrozenClock(SystemClock().now() - timedelta(days=32))

    async def work(resources: Resources) -> str:
        return (await subscribe_committed(resources, settings))[1]

    return _in_loop(settings, work, clock=started)


def _requested_invoice(settings: Settings) -> tuple[str, str]:
    """A due renewal whose invoice a tick has opened: (subscription id, invoice id)."""
    subscription_id = _due_renewal(settings)

    async def work(resources: Resources) -> str:
        tick = BillingTick(
            resources.session_factory,
            clock=resources.clock,
            crypto=resources.crypto,
            billing=settings.billing,
        )
        [invoice_id] = (await tick.run()).requested
        return invoice_id

    return subscription_id, _in_loop(settings, work)


def _query(settings: Settings, statement: Any) -> Any:
    async def work(resources: Resources) -> Any:
        async with resources.session_factory() as session:
            return (await session.execute(statement)).all()

    return _in_loop(settings, work)


def _attempts(settings: Settings, invoice_id: str) -> list[tuple[str, str | None]]:
    rows = _query(
        settings,
        select(InvoiceAttempt.status, InvoiceAttempt.transaction_id)
        .where(InvoiceAttempt.invoice_id == invoice_id)
        .order_by(InvoiceAttempt.number),
    )
    return [(row[0], row[1]) for row in rows]


def _charges_at_processor(settings: Settings, references: list[str | None]) -> int:
    rows = _query(
        settings,
        select(func.count())
        .select_from(SimulatorRequest)
        .where(SimulatorRequest.reference.in_([r for r in references if r])),
    )
    return int(rows[0][0])


def _invoice_status(settings: Settings, invoice_id: str) -> str:
    return str(_query(settings, select(Invoice.status).where(Invoice.id == invoice_id))[0][0])


def _work(connection: Redis, queue_name: str) -> None:
    SimpleWorker(
        [rq_queue(queue_name, connection)], connection=connection, serializer=SERIALIZER
    ).work(burst=True)


def _run(connection: Redis, queue_name: str, function: Callable[..., Any], *args: Any) -> Job:
    job = rq_queue(queue_name, connection).enqueue(function, *args)
    _work(connection, queue_name)
    assert job.get_status(refresh=True) == "finished", job.exc_info
    return job


def test_the_tick_requests_and_the_relay_hands_the_invoice_to_a_billing_job(
    job_environment: Redis, settings: Settings
) -> None:
    subscription_id = _due_renewal(settings)

    tick = _run(job_environment, "billing", billing_tick)

    assert tick.return_value()["renewals"] == 1  # type: ignore[index]
    assert tick.return_value()["requested"] == 1  # type: ignore[index]
    [renewal] = _query(
        settings,
        select(Invoice.id).where(
            Invoice.subscription_id == subscription_id, Invoice.status == "open"
        ),
    )
    invoice_id = renewal[0]
    _run(job_environment, "maintenance", relay_outbox)  # and the tick's nudge, if queued
    billing = rq_queue("billing", job_environment)
    [charge] = billing.jobs
    assert charge.func_name == "jobs.billing.charge_invoices"
    assert invoice_id in charge.args[0]
    _work(job_environment, "billing")
    assert charge.return_value(refresh=True)["charged"] == 1  # type: ignore[index]

    # The same job again (a relay repeated, a requeue by hand): nothing is charged.
    again = _run(job_environment, "billing", charge_invoices, [invoice_id])
    assert again.return_value()["skipped"] == 1  # type: ignore[index]
    assert _invoice_status(settings, invoice_id) == "paid"
    [(status, transaction_id)] = _attempts(settings, invoice_id)
    assert status == "succeeded"
    assert _charges_at_processor(settings, [transaction_id]) == 1
    cycles = _query(
        settings, select(Subscription.cycles_billed).where(Subscription.id == subscription_id)
    )
    assert cycles[0][0] == 2


@contextlib.contextmanager
def _tick_lock_held_elsewhere(database_url: str, name: str) -> Iterator[None]:
    """Another cron process running tick `name`: its advisory lock, held by a
    connection on a thread of its own until the block ends."""
    taken, done = threading.Event(), threading.Event()

    async def hold() -> None:
        engine = create_async_engine(database_url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                key = zlib.crc32(name.encode())
                await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
                taken.set()
                await asyncio.to_thread(done.wait)
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        finally:
            await engine.dispose()

    holder = threading.Thread(target=lambda: asyncio.run(hold()))
    holder.start()
    try:
        assert taken.wait(timeout=10)
        yield
    finally:
        done.set()
        holder.join(timeout=10)


def test_a_second_cron_process_skips_the_tick_the_first_holds(
    job_environment: Redis, settings: Settings, database_url: str
) -> None:
    _due_renewal(settings)

    with _tick_lock_held_elsewhere(database_url, "billing_tick"):
        skipped = _run(job_environment, "billing", billing_tick)

    assert skipped.return_value() == {"skipped": 1}
    assert _query(settings, select(func.count()).select_from(Invoice))[0][0] == 1
    ran = _run(job_environment, "billing", billing_tick)
    assert ran.return_value()["renewals"] == 1  # type: ignore[index]


def test_the_billing_tick_is_registered_with_cron() -> None:
    from rq.cron import CronScheduler  # noqa: PLC0415

    scheduler = CronScheduler(connection=Redis())
    scheduler.load_config_from_file("jobs.cron")
    registered = {
        job.func.__name__: (job.queue_name, job.interval)  # type: ignore[union-attr]
        for job in scheduler.get_jobs()
    }
    assert registered["billing_tick"] == ("billing", 60)


def _pending_attempt(settings: Settings, invoice_id: str) -> bool:
    return any(status == "pending" for status, _ in _attempts(settings, invoice_id))


@pytest.mark.slow
def test_a_worker_killed_mid_charge_never_leads_to_a_second_charge(
    job_environment: Redis, settings: Settings
) -> None:
    subscription_id, invoice_id = _requested_invoice(settings)
    rq_queue("billing", job_environment).enqueue(charge_invoices, [invoice_id])
    # The processor answers slowly: the worker is in phase 2 when it is killed.
    with slow_worker(30000) as process:
        wait_while_running(
            process,
            lambda: _pending_attempt(settings, invoice_id),
            what="started the charge",
            within_s=60,
        )
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    [(status, lost)] = _attempts(settings, invoice_id)
    assert status == "pending"

    # Duplicated jobs, and ticks, meanwhile: nothing is tried while the outcome is unknown.
    for _ in range(2):
        skipped = _run(job_environment, "billing", charge_invoices, [invoice_id])
        assert skipped.return_value()["skipped"] == 1  # type: ignore[index]
    assert _run(job_environment, "billing", billing_tick).return_value()["requested"] == 0  # type: ignore[index]
    assert _attempts(settings, invoice_id) == [("pending", lost)]

    # Reconciliation asks the processor (never re-sending); it never saw the charge.
    later = FrozenClock(
        SystemClock().now()
        + timedelta(minutes=settings.payments.reconcile_not_found_after_minutes + 1)
    )

    async def reconcile_then_bill(resources: Resources) -> dict[str, int]:
        await reconcile_pass(
            resources.session_factory,
            clock=later,
            processors=resources.processors,
            crypto=resources.crypto,
            settings=settings.payments,
            ignore_backoff=True,
        )
        run = await billing_pass(
            resources.session_factory,
            clock=later,
            processors=resources.processors,
            crypto=resources.crypto,
            settings=settings,
            ignore_backoff=True,
        )
        return run.as_dict()

    summary = _in_loop(settings, reconcile_then_bill, clock=later)

    assert (summary["resolved"], summary["charged"]) == (1, 1)
    attempts = _attempts(settings, invoice_id)
    assert [status for status, _ in attempts] == ["postponed", "succeeded"]
    assert _charges_at_processor(settings, [lost]) == 0
    assert _charges_at_processor(settings, [attempts[1][1]]) == 1
    assert _invoice_status(settings, invoice_id) == "paid"
    row = _query(
        settings,
        select(Subscription.status, Subscription.failed_attempts).where(
            Subscription.id == subscription_id
        ),
    )
    assert tuple(row[0]) == ("active", 0), "a crash of ours is no failure of the card"


def test_only_invoices_becoming_open_are_routed_to_billing_one_job_per_batch() -> None:
    def event(object_type: str, object_id: str, to_status: str) -> Event:
        return Event(
            id=new_id("evt"), object_type=object_type, object_id=object_id, to_status=to_status
        )

    batch = [
        event("transaction", "txn_1", "pending"),
        event("invoice", "inv_A", "open"),
        event("invoice", "inv_B", "past_due"),
        event("subscription", "sub_1", "active"),
        event("invoice", "inv_A", "open"),
        event("invoice", "inv_C", "open"),
    ]
    [work] = routed_work(batch)
    assert (work.queue, work.function) == ("billing", "jobs.billing.charge_invoices")
    assert work.object_ids == ("inv_A", "inv_C")
    assert work.job_id == f"work-{batch[1].id}", "a repeated relay batch replaces its job"
    assert routed_work(batch[:1] + batch[2:4]) == []
