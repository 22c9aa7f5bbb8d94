"""The relay nudge never costs a money request (issue 16, point 8): it is sent after
the response, off the event loop, on one long-lived pool; a Redis that black-holes
packets delays nothing, and cron's relay still sends the events."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

from litestar import Litestar
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.audit.outbox import Dispatch, OutboxRelay
from gateway.composition.resources import Resources
from gateway.core.clock import FrozenClock
from gateway.core.queues import RELAY_NUDGE_ID
from gateway.core.relay_nudge import RelayNudge
from tests.fixtures.payments import Post, charge_body
from tests.support import nudged

# Only a hang fails this: the nudge's own timeouts are 0.5 s, the old per-request
# connection waited 5 s.
PROMPT_S = 2.0


@contextlib.contextmanager
def black_hole() -> Iterator[socket.socket]:
    """A listening socket that never accepts nor answers: the kernel completes the
    connection, then every command waits for a reply that never comes."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock


async def test_a_black_holed_redis_costs_a_purchase_nothing_and_cron_relays_its_events(
    post: Post,
    app: Litestar,
    session_factory: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
) -> None:
    resources: Resources = app.state.resources
    with black_hole() as hole:
        port = hole.getsockname()[1]
        silent = RelayNudge.from_url(f"redis://127.0.0.1:{port}/0")
        resources.relay = silent
        try:
            for attempt in range(3):
                started = time.monotonic()
                response = await post("purchase", charge_body(1000 + attempt))
                elapsed = time.monotonic() - started
                assert response.status_code == 201, response.text
                assert elapsed < PROMPT_S, f"the purchase waited {elapsed:.2f}s on the nudge"
            # The nudge did go to the black hole (so the promptness above is not
            # that of a nudge never sent).
            hole.settimeout(PROMPT_S)
            connection, _ = hole.accept()
            connection.close()
        finally:
            silent.close()

    sent: list[Dispatch] = []
    async with session_factory() as session:
        relayed = await OutboxRelay(session, clock).relay(sent.extend)
        await session.commit()
    assert relayed >= 3, "cron's relay sends what no nudge reached"


async def test_every_request_nudges_through_the_one_pool_of_the_process(
    post: Post,
    app: Litestar,
    app_relay_nudge: RelayNudge | None,
    redis_client: Redis,
) -> None:
    assert app_relay_nudge is not None
    resources: Resources = app.state.resources
    pool = app_relay_nudge.pool
    for attempt in range(3):
        response = await post("purchase", charge_body(2000 + attempt))
        assert response.status_code == 201, response.text
        assert await nudged(redis_client)
        await redis_client.delete(f"rq:job:{RELAY_NUDGE_ID}")
    assert resources.relay is app_relay_nudge
    assert app_relay_nudge.pool is pool
    assert pool._created_connections == 1  # the same connection, every time


def test_nudges_wait_for_no_one_and_do_not_pile_up() -> None:
    with black_hole() as hole:
        nudge = RelayNudge.from_url(f"redis://127.0.0.1:{hole.getsockname()[1]}/0")
        try:
            started = time.monotonic()
            for _ in range(50):
                nudge.soon()
            assert time.monotonic() - started < PROMPT_S
            # One in flight on its thread, at most one waiting: never one per call.
            assert nudge._executor._work_queue.qsize() <= 1
        finally:
            nudge.close()
