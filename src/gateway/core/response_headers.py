"""Headers every API response carries, whatever answered it (issue 19 point 5).

Payment data must never sit in a browser's or a proxy's cache, and no answer may
be sniffed into something other than its declared type. This wraps the whole
application, so a routing 404, a problem+json error and /metrics carry them too.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

FIXED_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
)
_NAMES = frozenset(name for name, _ in FIXED_HEADERS)


class FixedResponseHeaders:
    """Pure ASGI middleware: set `FIXED_HEADERS` on every HTTP response, replacing
    a value a handler chose (a static file's own `Cache-Control` included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    (name, value)
                    for name, value in message.get("headers", ())
                    if name.lower() not in _NAMES
                ]
                message["headers"] = [*kept, *FIXED_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
