"""What stands in front of rq-dashboard (issue 19 point 7).

rq-dashboard's own basic auth compares the password with `!=` (timing), never
slows a guesser down, and its routes change state on a GET (`/requeue/<queue>`)
or on a POST that any page the operator visits could send with the browser's
cached credentials (no CSRF token). So the dashboard is served read-only behind
this WSGI middleware:

- HTTP basic auth compared in constant time;
- failed logins counted per client address in a sliding window: past the limit,
  429 with `Retry-After` until the window passes, the password unchecked;
- every request that could change state refused with 405: any method but GET
  and HEAD, and a GET on a route rq-dashboard also takes as a POST. Failed jobs
  are requeued with `gateway jobs requeue`.
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from werkzeug.datastructures import Authorization
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map

from gateway.core.settings import DashboardSettings

# The WSGI types, spelled out: `wsgiref.types` is Python 3.11+ only at runtime.
Environ = dict[str, object]
StartResponse = Callable[..., object]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

READ_ONLY_METHODS = frozenset({"GET", "HEAD"})
READ_ONLY_MESSAGE = (
    b"The dashboard is read-only. Use `gateway jobs failed` and `gateway jobs requeue`.\n"
)
_REALM = 'Basic realm="RQ Dashboard", charset="UTF-8"'


class FailedLogins:
    """Failed logins per client address over the last `window_s` seconds.

    In process memory: the dashboard is one process. The number of addresses
    tracked is bounded, so a flood of spoofed sources cannot grow it for ever.
    """

    def __init__(
        self,
        limit: int,
        *,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = 10_000,
    ) -> None:
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._max_addresses = max_addresses
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int | None:
        """Seconds until `address` may try again, or None when it may now."""
        with self._lock:
            failures = self._recent(address)
            if failures is None or len(failures) < self._limit:
                return None
            return max(1, math.ceil(failures[0] + self._window_s - self._clock()))

    def record(self, address: str) -> None:
        with self._lock:
            failures = self._recent(address)
            if failures is None:
                if len(self._failures) >= self._max_addresses:
                    self._forget_stale()
                failures = self._failures.setdefault(address, deque())
            failures.append(self._clock())

    def _recent(self, address: str) -> deque[float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        horizon = self._clock() - self._window_s
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures

    def _forget_stale(self) -> None:
        for address in list(self._failures):
            self._recent(address)
        while len(self._failures) >= self._max_addresses:
            # Still full of live entries: the oldest address goes first.
            del self._failures[next(iter(self._failures))]


def state_changing_routes(url_map: Map) -> Callable[[str], bool]:
    """Whether a path names a route that takes a POST (rq-dashboard's actions)."""
    adapter = url_map.bind("dashboard")

    def takes_post(path: str) -> bool:
        try:
            adapter.match(path, method="POST")
        except HTTPException:
            return False  # no such route, or not one that takes a POST
        return True

    return takes_post


class DashboardGuard:
    """WSGI middleware: constant-time basic auth, login rate limit, read only."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        settings: DashboardSettings,
        is_state_changing: Callable[[str], bool],
        failed_logins: FailedLogins | None = None,
    ) -> None:
        if not settings.password:
            raise ValueError("the dashboard needs a password")
        self._app = app
        self._user = settings.user.encode()
        self._password = settings.password.encode()
        self._is_state_changing = is_state_changing
        self._failed = failed_logins or FailedLogins(settings.failed_logins_per_min)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        address = str(environ.get("REMOTE_ADDR") or "")
        retry_after = self._failed.retry_after(address)
        if retry_after is not None:
            return _answer(
                start_response,
                "429 Too Many Requests",
                b"Too many failed logins; try again later.\n",
                [("Retry-After", str(retry_after))],
            )
        header = environ.get("HTTP_AUTHORIZATION")
        given = Authorization.from_header(header if isinstance(header, str) else None)
        if given is None or given.type != "basic" or not self._matches(given):
            if given is not None:
                self._failed.record(address)
            return _answer(
                start_response,
                "401 Unauthorized",
                b"Please log in.\n",
                [("WWW-Authenticate", _REALM)],
            )
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        path = str(environ.get("PATH_INFO") or "/")
        changes_state = self._is_state_changing(path)
        if method not in READ_ONLY_METHODS or changes_state:
            allow = "" if changes_state else "GET, HEAD"
            return _answer(
                start_response, "405 Method Not Allowed", READ_ONLY_MESSAGE, [("Allow", allow)]
            )
        return self._app(environ, start_response)

    def _matches(self, given: Authorization) -> bool:
        user = (given.username or "").encode()
        password = (given.password or "").encode()
        # Both compared every time (`&`, not `and`): which one was wrong takes no
        # different time either.
        return hmac.compare_digest(user, self._user) & hmac.compare_digest(password, self._password)


def _answer(
    start_response: StartResponse, status: str, body: bytes, headers: list[tuple[str, str]]
) -> list[bytes]:
    start_response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            *headers,
        ],
    )
    return [body]
