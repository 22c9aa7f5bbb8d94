"""Nudging the outbox relay from a server, after its responses are sent.

A nudge is a convenience (cron relays anyway), so it must never cost a request:
it runs once the response has gone, on a thread of its own, over one long-lived
pool with short timeouts (RQ needs a synchronous client, which must stay off the
event loop)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from litestar.background_tasks import BackgroundTask
from redis import ConnectionPool, Redis

from gateway.core.queues import send_nudge

# A nudge is a convenience (cron relays anyway): a Redis that does not answer
# must give it up quickly rather than hold its thread.
NUDGE_CONNECT_TIMEOUT_S = 0.5
NUDGE_SOCKET_TIMEOUT_S = 0.5
# Nudges go out at most this often: under load one covers every commit made in
# the meantime, instead of one nudge (and one relay job) per request.
NUDGE_INTERVAL_S = 0.05


class RelayNudge:
    """A process's nudges: `soon()` returns at once and one thread sends them.
    Requests arriving while a nudge waits for that thread add none: the waiting
    one starts after their commits, so it covers them. A Redis that black-holes
    packets thus holds that one thread, never a request nor the event loop's
    shared thread pool."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self._connection = Redis(connection_pool=pool)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-nudge")
        self._lock = threading.Lock()
        self._waiting = False
        self._closed = False
        self._last_sent = 0.0

    @classmethod
    def from_url(cls, url: str) -> RelayNudge:
        pool = ConnectionPool.from_url(
            url,
            socket_connect_timeout=NUDGE_CONNECT_TIMEOUT_S,
            socket_timeout=NUDGE_SOCKET_TIMEOUT_S,
        )
        return cls(pool)

    def soon(self) -> None:
        """Have the relay nudged, off the caller's thread; never blocks."""
        with self._lock:
            if self._waiting or self._closed:
                return  # closed: the process is stopping, and cron relays anyway
            self._waiting = True
            self._executor.submit(self._send)

    def _send(self) -> bool:
        # Still `waiting` while it sleeps, so the requests meanwhile add none: their
        # commits are made before it is sent, and it covers them.
        time.sleep(max(0.0, self._last_sent + NUDGE_INTERVAL_S - time.monotonic()))
        with self._lock:
            self._waiting = False
        self._last_sent = time.monotonic()
        return send_nudge(self._connection)

    def close(self) -> None:
        """Drop a waiting nudge (cron relays its events), let one being sent finish
        (its timeouts bound the wait), then close the pool's connections."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.pool.disconnect()


def after_response_nudge(relay: RelayNudge) -> BackgroundTask:
    """A background task for a response: Litestar runs it once the response is sent."""

    async def nudge() -> None:
        relay.soon()  # returns at once: the nudge is sent on the relay's own thread

    return BackgroundTask(nudge)
