"""POST /webhooks/{authorize-net,simulator} (the processor's, no API key) and the
admin routes over stored events (API.md "Webhooks")."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.composition.resources import Resources
from gateway.core.errors import ValidationFailed
from gateway.core.openapi import PublicOperation, api_responses, ok, problem, query_one_of
from gateway.core.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from gateway.core.rate_limits import Policy
from gateway.core.relay_nudge import after_response_nudge
from gateway.core.settings import Settings
from gateway.merchants.auth import SCOPE_OPT, api_actor
from gateway.merchants.principal import Principal
from gateway.merchants.rate_limits import address_of, limiter_of
from gateway.merchants.scopes import Scope
from gateway.webhooks.errors import InvalidSignature
from gateway.webhooks.schemas import (
    EVENT_STATUSES,
    InboundAccepted,
    ReplayedOut,
    WebhookEventList,
    WebhookEventOut,
)
from gateway.webhooks.service import InboxService, Source, WebhookEventService
from gateway.webhooks.signature import HEADER

ADMIN = {SCOPE_OPT: Scope.WEBHOOKS_ADMIN}
REPLAYABLE = ("dead", "failed")

StatusQuery = Annotated[str | None, query_one_of(EVENT_STATUSES, "The event's status.")]
ReplayStatusQuery = Annotated[
    str,
    QueryParameter(
        description=f"Which events to replay: {' or '.join(REPLAYABLE)}.",
        schema_extra={"enum": list(REPLAYABLE)},
    ),
]

INBOUND_RESPONSES: dict[int, ResponseSpec] = {
    200: ok(
        InboundAccepted,
        "Stored (or a duplicate of a stored notification): processed by a worker.",
    ),
    400: problem(
        "validation_error: a valid signature over a body that is not a notification.",
        "validation_error",
    ),
    401: problem("invalid_signature: nothing was stored.", "invalid_signature"),
    413: problem("payload_too_large: over 64 KiB.", "payload_too_large"),
    429: problem("rate_limited: too many invalid signatures from this address.", "rate_limited"),
    503: problem("service_unavailable: the database is unreachable.", "service_unavailable"),
}
_INBOUND_DOC = (
    "Authenticated only by `X-ANET-Signature: sha512=<HEX>`, the HMAC-SHA512 of the raw "
    "body keyed with the Signature Key text (GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS)."
)


def _nudge(state: State) -> BackgroundTask | None:
    """After the response (so after the commit): have a worker relay the new row now."""
    resources: Resources = state.resources
    return None if resources.relay is None else after_response_nudge(resources.relay)


class InboundWebhookController(Controller):
    path = "/api/v1/webhooks"
    tags = ["Webhooks"]  # noqa: RUF012 - Litestar reads this class attribute
    security = []  # noqa: RUF012 - no API key: the signature authenticates

    async def _receive(
        self, source: Source, request: Request[Any, Any, Any], db_session: AsyncSession
    ) -> Response[InboundAccepted]:
        body = await request.body()  # over the size limit: 413, before anything else
        state: State = request.app.state
        settings: Settings = state.settings
        try:
            received = await InboxService(db_session, state.resources.clock).receive(
                source,
                body,
                request.headers.get(HEADER),
                settings.processor.authorize_net_signature_keys or (),
            )
        except InvalidSignature:
            # Only after the signature is checked: a validly signed event is never
            # limited; a flood of forged ones is, per address.
            limiter = limiter_of(request)
            if limiter is not None:
                limits = settings.rate_limits
                policy = Policy.per_minute(
                    "webhook_invalid", limits.rate_limit_webhook_invalid_per_min
                )
                await limiter.hit(policy, address_of(request))
            raise
        return Response(
            InboundAccepted(id=received.event_id, duplicate=received.duplicate),
            status_code=200,
            background=None if received.duplicate else _nudge(state),
        )

    @post(
        "/authorize-net",
        status_code=200,
        responses=INBOUND_RESPONSES,
        operation_class=PublicOperation,
        summary="Authorize.Net's webhooks",
        description=_INBOUND_DOC,
    )
    async def authorize_net(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Response[InboundAccepted]:
        return await self._receive("authorize_net", request, db_session)

    @post(
        "/simulator",
        status_code=200,
        responses=INBOUND_RESPONSES,
        operation_class=PublicOperation,
        summary="The simulator's webhooks",
        description=_INBOUND_DOC + " Same format and rules as Authorize.Net's.",
    )
    async def simulator(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Response[InboundAccepted]:
        return await self._receive("simulator", request, db_session)


def _status(value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is not None and value not in allowed:
        raise ValidationFailed.for_field("status", f"one of {', '.join(allowed)}")
    return value


class WebhookEventController(Controller):
    path = "/api/v1/webhooks/events"
    tags = ["Webhooks"]  # noqa: RUF012 - Litestar reads this class attribute

    @get(
        "/",
        opt=ADMIN,
        summary="Inbound events matched to this merchant, newest first",
        responses=api_responses(),
    )
    async def list_events(
        self,
        *,
        principal: NamedDependency[Principal],
        webhook_events: NamedDependency[WebhookEventService],
        status: StatusQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
        cursor: CursorQuery = None,
    ) -> WebhookEventList:
        rows, next_cursor = await webhook_events.page(
            principal.owner, status=_status(status, EVENT_STATUSES), cursor=cursor, limit=limit
        )
        return WebhookEventList(
            data=[WebhookEventOut.of(row) for row in rows], next_cursor=next_cursor
        )

    @post(
        "/{event_id:str}/replay",
        opt=ADMIN,
        status_code=202,
        summary="Process one event again",
        description="Whatever its status, with a fresh set of retries.",
        responses=api_responses(takes_id=True),
    )
    async def replay_one(
        self,
        event_id: FromPath[str],
        principal: NamedDependency[Principal],
        webhook_events: NamedDependency[WebhookEventService],
        request: Request[Any, Any, Any],
    ) -> Response[WebhookEventOut]:
        event = await webhook_events.replay(principal.owner, event_id, api_actor(request))
        return Response(
            WebhookEventOut.of(event),
            status_code=202,
            background=_nudge(request.app.state),
        )

    @post(
        "/replay",
        opt=ADMIN,
        status_code=202,
        summary="Process every dead (or failed) event again",
        responses=api_responses(),
    )
    async def replay_all(
        self,
        principal: NamedDependency[Principal],
        webhook_events: NamedDependency[WebhookEventService],
        request: Request[Any, Any, Any],
        status: ReplayStatusQuery = "dead",
    ) -> Response[ReplayedOut]:
        chosen = _status(status, REPLAYABLE)
        assert chosen is not None
        replayed = await webhook_events.replay_all(principal.owner, chosen, api_actor(request))
        return Response(
            ReplayedOut(replayed=len(replayed)),
            status_code=202,
            background=_nudge(request.app.state) if replayed else None,
        )
