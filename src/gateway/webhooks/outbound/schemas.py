"""Wire types of the outbound webhooks API (API.md "Webhooks / Outbound"):
endpoints, their deliveries, and the bodies that create, change and recover them.

The secret appears only in `EndpointWithSecret`, the answer of a creation or a
rotation; every other answer is an `EndpointOut`, which has no field for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from gateway.core.openapi import one_of
from gateway.core.schemas import RequestBody
from gateway.webhooks.outbound.destinations import MAX_URL_LENGTH
from gateway.webhooks.outbound.event_types import EVENT_TYPES
from gateway.webhooks.outbound.models import DELIVERY_STATUSES, WebhookDelivery, WebhookEndpoint

DESCRIPTION_MAX = 255

Url = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="https:// in production, resolving to public addresses only.",
    ),
]
EventList = Annotated[
    list[str],
    msgspec.Meta(
        min_length=1,
        max_length=len(EVENT_TYPES),
        description=f'Any of {", ".join(EVENT_TYPES)}; or ["*"] for every one.',
    ),
]
Description = Annotated[str, msgspec.Meta(max_length=DESCRIPTION_MAX)]


class NewEndpoint(RequestBody):
    """POST /webhook-endpoints."""

    url: Url
    events: EventList
    description: Description | None = None


class EndpointChange(RequestBody):
    """PATCH /webhook-endpoints/{id}: only the fields given change (`description`:
    null clears it)."""

    url: Url | msgspec.UnsetType = msgspec.UNSET
    events: EventList | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    disabled: bool | msgspec.UnsetType = msgspec.UNSET


class RecoverWindow(RequestBody):
    """POST /webhook-endpoints/{id}/recover: deliveries created in [since, until)."""

    since: Annotated[datetime, msgspec.Meta(description="RFC 3339 with an offset.")]
    until: Annotated[datetime, msgspec.Meta(description="RFC 3339; default now.")] | None = None


class EndpointOut(msgspec.Struct, kw_only=True):
    id: str
    url: str
    events: list[str]
    description: str | None
    disabled: bool
    disabled_reason: str | None
    livemode: bool
    created_at: datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> EndpointOut:
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            events=list(endpoint.events),
            description=endpoint.description,
            disabled=endpoint.disabled,
            disabled_reason=endpoint.disabled_reason,
            livemode=endpoint.livemode,
            created_at=endpoint.created_at,
        )


class EndpointWithSecret(EndpointOut, kw_only=True):
    """The one answer that carries the signing secret: creation and rotation."""

    secret: str

    @classmethod
    def revealing(cls, endpoint: WebhookEndpoint, secret: str) -> EndpointWithSecret:
        return cls(**msgspec.structs.asdict(EndpointOut.of(endpoint)), secret=secret)


class EndpointList(msgspec.Struct):
    data: list[EndpointOut]
    next_cursor: str | None


class DeliveryOut(msgspec.Struct, kw_only=True):
    id: str
    endpoint_id: str
    event_id: str
    event_type: Annotated[str, one_of(EVENT_TYPES)]
    status: Annotated[str, one_of(DELIVERY_STATUSES)]
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryOut:
        return cls(
            id=delivery.id,
            endpoint_id=delivery.endpoint_id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            status=delivery.status,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            created_at=delivery.created_at,
            delivered_at=delivery.delivered_at,
        )


class DeliveryList(msgspec.Struct):
    data: list[DeliveryOut]
    next_cursor: str | None


class RecoveredOut(msgspec.Struct):
    recovered: int
