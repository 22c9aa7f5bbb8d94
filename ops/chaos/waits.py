"""The waits at the end of a chaos run, each a hang detector that gives up and
reports what was left: background work, the final reconciliation, webhooks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg

from ops.chaos.operator import gateway

_FINAL_RECONCILE_TIMEOUT_S = 120.0
# The longest a start or an expiry set during the traffic can be away, and time
# for the workers (killed now and then) to get through it.
_BACKGROUND_TIMEOUT_S = 120.0
_WEBHOOK_DRAIN_TIMEOUT_S = 90.0

PENDING = "SELECT count(*) FROM transactions WHERE status = 'pending'"
# Work the traffic left for the workers: authorizations past their expiry, orphan
# candidates, wall-clock subscriptions (a start seconds away; a renewal a day
# away is not this run's) and invoices whose attempt is due. An invoice whose
# charge request was lost with Redis or a killed worker is requested again only
# after the tick's REQUEST_TIMEOUT (10 minutes): longer than a run, so not waited
# for (the audit checks that it was charged nowhere).
BACKGROUND_WORK = """
    SELECT (SELECT count(*) FROM transactions WHERE status = 'authorized' AND expires_at < now())
         + (SELECT count(*) FROM transactions WHERE orphan_since IS NOT NULL)
         + (SELECT count(*) FROM subscriptions s WHERE test_clock_id IS NULL
              AND status IN ('active', 'trialing', 'past_due')
              AND next_billing_at < now() + interval '1 minute'
              AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.subscription_id = s.id
                              AND i.status IN ('open', 'past_due')))
         + (SELECT count(*) FROM invoices WHERE status IN ('open', 'past_due')
              AND next_attempt_at < now())
"""
# Inbound events the API accepted and has not processed yet.
EVENTS_IN_FLIGHT = "SELECT count(*) FROM webhook_events WHERE status IN ('received', 'failed')"
# The in-process simulator's webhooks not yet accepted by the API.
SIMULATOR_WEBHOOKS_UNSENT = "SELECT count(*) FROM simulator_webhooks WHERE delivered_at IS NULL"

Counting = Callable[[], Coroutine[Any, Any, int]]


async def count(dsn: str, query: str) -> int:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        found: int = await connection.fetchval(query)
        return found
    finally:
        await connection.close()


def counting(dsn: str, query: str) -> Counting:
    return lambda: count(dsn, query)


def summed(*counts: Counting) -> Counting:
    async def total() -> int:
        return sum([await each() for each in counts])

    return total


def drain_webhooks(in_flight: Counting) -> int:
    """Let the webhooks the run caused finish (a hang detector's wait); returns how
    many were still in flight when it gave up, a figure of the report."""
    deadline = time.monotonic() + _WEBHOOK_DRAIN_TIMEOUT_S
    while (left := asyncio.run(in_flight())) and time.monotonic() < deadline:
        time.sleep(1.0)
    return left


async def background_done(dsn: str) -> int:
    """Wait until the workers did the background work (a hang detector's wait);
    returns how much was left when it gave up, a figure of the report."""
    deadline = time.monotonic() + _BACKGROUND_TIMEOUT_S
    while True:
        left = await count(dsn, BACKGROUND_WORK)
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(1.0)


def reconcile_until_settled(environment: dict[str, str], dsn: str) -> int:
    """`gateway reconcile --now` until nothing is pending: in-flight keys must first
    outlive their lock, lost calls their not-found window. Returns the passes run."""
    deadline = time.monotonic() + _FINAL_RECONCILE_TIMEOUT_S
    passes = 0
    while asyncio.run(count(dsn, PENDING)) and time.monotonic() < deadline:
        gateway(environment, "reconcile", "--now")
        passes += 1
        time.sleep(1.0)
    return passes
