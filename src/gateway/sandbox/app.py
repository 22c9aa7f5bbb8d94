"""The sandbox's ASGI app: `POST /xml/v1/request.api` as Authorize.Net answers it,
and the development control surface under `/_sandbox/`.

A plain ASGI callable rather than a Litestar app: the wire is byte-exact (a BOM
first, HTTP 200 whatever the result) and some answers are no answer at all
(`connection.drop`), which a framework's error handling would turn into a 500.
Nothing of a request body is logged: it may hold a card number.
"""

from __future__ import annotations

import hmac
from collections.abc import MutableMapping
from typing import Any, Final

import structlog

from gateway.processors.port import NotSentError, OutcomeUnknownError
from gateway.sandbox import answers
from gateway.sandbox.answers import CallError
from gateway.sandbox.asgi import BodyTooLarge, header, lifespan, read_body, respond
from gateway.sandbox.calls import CALLS
from gateway.sandbox.connection import drop
from gateway.sandbox.control import Control
from gateway.sandbox.fields import child, text
from gateway.sandbox.parts import Parts
from gateway.sandbox.wire import Format, SchemaError, read_request, write_response

API_PATH: Final = "/xml/v1/request.api"
CONTROL_PREFIX: Final = "/_sandbox/"
MAX_BODY: Final = 1 << 20
_CONTENT_TYPES: Final = {
    Format.JSON: b"application/json; charset=utf-8",
    Format.XML: b"application/xml; charset=utf-8",
}

_log = structlog.get_logger("gateway.sandbox")


class SandboxApp:
    def __init__(self, parts: Parts, *, login_id: str, transaction_key: str) -> None:
        self._parts = parts
        self._login_id = login_id
        self._transaction_key = transaction_key
        self._control = Control(parts, login_id=login_id, transaction_key=transaction_key)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == API_PATH and method == "POST":
            await self._api(scope, receive, send)
        elif path.startswith(CONTROL_PREFIX) and method == "POST":
            status, body = await self._control.handle(
                path.removeprefix(CONTROL_PREFIX), header(scope, b"authorization"), receive
            )
            await respond(send, status, body, b"application/json")
        else:
            await respond(send, 404, b"Not Found", b"text/plain")

    async def _api(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if await self._parts.simulator.outage.is_on():
            _log.info("sandbox.refused", reason="outage")
            await drop(send)
            return
        try:
            body = await read_body(receive, MAX_BODY)
        except BodyTooLarge:
            await respond(send, 413, b"Request Entity Too Large", b"text/plain")
            return
        try:
            format_, root, content = read_request(body, header(scope, b"content-type"))
        except SchemaError as error:
            answer = answers.envelope((answers.SCHEMA, str(error)), ok=False, ref_id=None)
            await self._answer(send, error.format_, "ErrorResponse", answer)
            return
        ref_id = text(content, "refId")
        try:
            answer = await self._call(root, content, ref_id)
        except (NotSentError, OutcomeUnknownError) as lost:
            _log.info("sandbox.no_answer", call=root, reason=type(lost).__name__)
            await drop(send)
            return
        await self._answer(send, format_, answers.response_root(root), answer)

    async def _call(self, root: str, content: dict[str, Any], ref_id: str | None) -> dict[str, Any]:
        handler = CALLS.get(root)
        try:
            if handler is None:
                raise CallError(answers.SCHEMA, f"The element '{root}' is not a known call.")
            if not self._authenticated(content):
                raise CallError(*answers.AUTHENTICATION)
            answer = await handler(self._parts, content, ref_id)
        except CallError as error:
            _log.info("sandbox.answered", call=root, code=error.code)
            return answers.envelope((error.code, error.text), ok=False, ref_id=ref_id)
        _log.info("sandbox.answered", call=root, code=answer["messages"]["message"][0]["code"])
        return answer

    def _authenticated(self, content: dict[str, Any]) -> bool:
        try:
            credentials = child(content, "merchantAuthentication")
            name, key = text(credentials, "name"), text(credentials, "transactionKey")
        except CallError:
            return False
        return (
            name is not None
            and key is not None
            and hmac.compare_digest(name.encode(), self._login_id.encode())
            and hmac.compare_digest(key.encode(), self._transaction_key.encode())
        )

    @staticmethod
    async def _answer(send: Any, format_: Format, root: str, answer: dict[str, Any]) -> None:
        # Authorize.Net answers 200 to everything, errors included.
        await respond(send, 200, write_response(format_, root, answer), _CONTENT_TYPES[format_])
