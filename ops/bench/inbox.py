"""The gateway's inbox of processor webhooks, as the load suite reads it: how
many of a round's notifications the worker processed, how fast, how late."""

from __future__ import annotations

import asyncio
import time

import asyncpg

# How long the worker may go without processing one before the wait ends.
STALL_S = 60.0


async def database_now(dsn: str) -> object:
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetchval("SELECT clock_timestamp()")
    finally:
        await connection.close()


async def processing(dsn: str, since: object, posted: int, drain_s: float) -> str:
    """Waits until the worker has processed what the round posted (or stalls);
    the rate and each event's time from receipt to processed."""
    query = (
        "SELECT count(*) FILTER (WHERE status = 'processed'),"
        " extract(epoch FROM max(processed_at) - min(received_at)),"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at"
        "   - received_at)) FILTER (WHERE status = 'processed'),"
        " percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at"
        "   - received_at)) FILTER (WHERE status = 'processed')"
        " FROM webhook_events WHERE received_at >= $1"
    )
    connection = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + drain_s
        last, changed = -1, time.monotonic()
        while True:
            row = await connection.fetchrow(query, since)
            done = int(row[0])
            if done != last:
                last, changed = done, time.monotonic()
            now = time.monotonic()
            if done >= posted or now > deadline or now - changed > STALL_S:
                break
            await asyncio.sleep(0.5)
    finally:
        await connection.close()
    span = float(row[1] or 0.0)
    rate = done / span if span else 0.0
    p50 = float(row[2] or 0.0)
    p99 = float(row[3] or 0.0)
    return (
        f"  processed {done}/{posted} events by the worker, {rate:.1f} events/s,"
        f" receipt->processed p50 {p50:.2f} s p99 {p99:.2f} s"
    )
