"""Idempotency-Key over HTTP: the check before the body, and the answer's headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, Response

from gateway.composition.resources import Resources
from gateway.core.hostile_input import check_json_body
from gateway.core.problems import PROBLEM_MEDIA_TYPE
from gateway.core.relay_nudge import RelayNudge, after_response_nudge
from gateway.idempotency.commands import KeyedCommands, KeyedRequest
from gateway.idempotency.fingerprint import request_fingerprint
from gateway.idempotency.key_claim import Outcome
from gateway.idempotency.keys import HEADER, parse_key, stored_key
from gateway.idempotency.store import KeyScope
from gateway.merchants.auth import provide_principal

REPLAYED_HEADER = "Idempotent-Replayed"
_KEYED_STATE = "idempotency"

# Authorize.Net asks to retry processing errors after five minutes (ANET.md §2);
# an unreachable processor is worth another try sooner.
_RETRY_AFTER_S = {502: 300, 503: 30}

CommandsFactory = Callable[[Request[Any, Any, Any]], KeyedCommands]
BeforeRequest = Callable[[Request[Any, Any, Any]], Awaitable[Response[bytes] | None]]


def idempotency_precheck(commands: CommandsFactory) -> BeforeRequest:
    """A `before_request` hook: runs after authentication and the scope guard and
    before the body is validated, as API.md orders the checks. The key must be
    present; a key that already has an answer gets it now."""

    async def precheck(request: Request[Any, Any, Any]) -> Response[bytes] | None:
        if request.method != "POST":
            return None
        key = parse_key(request.headers.get(HEADER))
        principal = provide_principal(request)
        resources: Resources = request.app.state.resources
        body = await request.body()
        # Before the fingerprint walks it: a hostile body is a 400 that claims no key.
        check_json_body(body)
        fingerprints = resources.crypto.fingerprints
        keyed = KeyedRequest(
            scope=KeyScope(
                merchant_id=principal.merchant_id,
                livemode=principal.livemode,
                key=stored_key(fingerprints, key),
            ),
            fingerprint=request_fingerprint(
                fingerprints, principal.owner, request.method, request.url.path, body
            ),
        )
        request.state[_KEYED_STATE] = keyed
        existing = await commands(request).existing(keyed)
        return None if existing is None else to_response(existing)

    return precheck


def provide_keyed_request(request: Request[Any, Any, Any]) -> KeyedRequest:
    keyed: KeyedRequest = request.state[_KEYED_STATE]
    return keyed


def retry_after(status: int) -> int | None:
    return _RETRY_AFTER_S.get(status)


def to_response(outcome: Outcome, *, relay: RelayNudge | None = None) -> Response[bytes]:
    """The outcome as HTTP; with `relay` (a run that committed events), the relay
    is nudged once the response has been sent."""
    response = outcome.response
    headers = {REPLAYED_HEADER: "true"} if outcome.replayed else {}
    wait = retry_after(response.status)
    if wait is not None:
        headers["Retry-After"] = str(wait)
    return Response(
        content=response.body,
        status_code=response.status,
        media_type=PROBLEM_MEDIA_TYPE if response.status >= 400 else "application/json",
        headers=headers,
        background=None if relay is None else after_response_nudge(relay),
    )
