"""Request ids and the one summary log line of each request (`http.request`:
method, route template, status, outcome, duration, merchant, request id).

This wraps the whole Litestar application (routing included), so a 404 for an
unknown path or a 500 from a handler carries `X-Request-ID` and is logged too.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

from gateway.core.logging import mask_card_numbers

REQUEST_ID_HEADER = b"x-request-id"
# Accept a caller's id only when it is short and harmless to echo and log.
_ACCEPTABLE_ID = re.compile(rb"^[A-Za-z0-9._:@/+=-]{1,128}$")

_log = structlog.get_logger("gateway.http")


def new_request_id() -> str:
    return f"req_{uuid.uuid4().hex}"


def request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER and _ACCEPTABLE_ID.match(value):
            given = value.decode("ascii")
            # Request ids are stored with events and audit rows: one that looks like
            # a card number is never kept (DESIGN.md invariant 2).
            if mask_card_numbers(given) == given:
                return given
    return new_request_id()


def outcome_of(status: int) -> str:
    if status >= 500:
        return "server_error"
    if status >= 400:
        return "client_error"
    return "ok"


class RequestContextMiddleware:
    """Pure ASGI middleware: binds `request_id`, echoes it, logs one line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        await self._handle_http(scope, receive, send)

    async def _handle_http(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        request_id = request_id_from(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (name, value)
                    for name, value in message.get("headers", ())
                    if name.lower() != REQUEST_ID_HEADER
                ]
                headers.append((REQUEST_ID_HEADER, request_id.encode("ascii")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            # The request's one summary line (its canonical log line): the route
            # template, never the raw path, and the merchant the API key named.
            _log.info(
                "http.request",
                method=scope["method"],
                route=scope.get("path_template") or "<unmatched>",
                status=status,
                outcome=outcome_of(status),
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                merchant_id=getattr(scope.get("user"), "merchant_id", None),
            )
            structlog.contextvars.clear_contextvars()
