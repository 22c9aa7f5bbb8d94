"""From the HTTP request to the payments domain: who asks, with which key."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.datastructures import State
from litestar.di import NamedDependency

from gateway.audit.service import Actor
from gateway.core.problems import PROBLEM_MEDIA_TYPE
from gateway.core.resources import Resources
from gateway.core.settings import Settings
from gateway.idempotency.keys import HEADER, parse_key, request_fingerprint
from gateway.idempotency.runner import Outcome
from gateway.idempotency.store import KeyScope
from gateway.merchants.auth import provide_principal
from gateway.merchants.principal import Principal
from gateway.payments.commands import KeyedRequest, PaymentCommands
from gateway.payments.operations import Context
from gateway.payments.responses import retry_after
from gateway.payments.service import Owner, TransactionService

REPLAYED_HEADER = "Idempotent-Replayed"
_KEYED_STATE = "idempotency"


def owner_of(principal: Principal) -> Owner:
    return Owner(merchant_id=principal.merchant_id, livemode=principal.livemode)


def _actor(request: Request[Any, Any, Any], principal: Principal) -> Actor:
    return Actor(
        kind="api",
        request_id=request.scope.get("state", {}).get("request_id"),
        api_key_id=principal.key_id,
        ip_address=request.client.host if request.client else None,
    )


def payment_commands(request: Request[Any, Any, Any]) -> PaymentCommands:
    state: State = request.app.state
    resources: Resources = state.resources
    settings: Settings = state.settings
    principal = provide_principal(request)
    return PaymentCommands(
        resources,
        settings,
        Context(
            owner=owner_of(principal),
            actor=_actor(request, principal),
            processor=resources.processors.for_mode(principal.livemode),
            crypto=resources.crypto,
            max_amount=principal.max_amount or settings.payments.max_amount,
            auth_expiry_days=settings.payments.auth_expiry_days,
            refund_window_days=settings.payments.refund_window_days,
        ),
    )


async def idempotency_precheck(request: Request[Any, Any, Any]) -> Response[bytes] | None:
    """API.md's order of checks: after authentication and scope (middleware and
    guard), before the body is validated: the key must be present, and a key that
    already has an answer gets it now."""
    if request.method != "POST":
        return None
    key = parse_key(request.headers.get(HEADER))
    principal = provide_principal(request)
    resources: Resources = request.app.state.resources
    body = await request.body()
    keyed = KeyedRequest(
        scope=KeyScope(merchant_id=principal.merchant_id, livemode=principal.livemode, key=key),
        fingerprint=request_fingerprint(
            resources.crypto.fingerprints, request.method, request.url.path, body
        ),
    )
    request.state[_KEYED_STATE] = keyed
    existing = await payment_commands(request).existing(keyed)
    return None if existing is None else to_response(existing)


def provide_keyed_request(request: Request[Any, Any, Any]) -> KeyedRequest:
    keyed: KeyedRequest = request.state[_KEYED_STATE]
    return keyed


def provide_payment_commands(request: Request[Any, Any, Any]) -> PaymentCommands:
    return payment_commands(request)


def provide_transaction_service(
    db_session: NamedDependency[Any], state: State
) -> TransactionService:
    return TransactionService(db_session, state.resources.clock)


def to_response(outcome: Outcome) -> Response[bytes]:
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
    )
