"""Wire types: the notification Authorize.Net posts (ANET.md §6) and the admin API's
event (API.md "Webhooks")."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from gateway.core.errors import ValidationFailed
from gateway.core.openapi import one_of
from gateway.core.problems import dotted_path
from gateway.webhooks.models import WebhookEvent

_MISSING_FIELD = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")

Text128 = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Text64 = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class AnetPayload(msgspec.Struct, frozen=True):
    """The part of `payload` the gateway reads; anything else is tolerated and
    dropped. `id` is a string; `responseCode` and `authAmount` are numbers, the
    amount decoded exactly (`10.00` stays `Decimal("10.00")`)."""

    entityName: Text64 | None = None  # noqa: N815 - Authorize.Net's field names
    id: Text64 | None = None
    responseCode: int | None = None  # noqa: N815
    authAmount: Decimal | None = None  # noqa: N815
    merchantReferenceId: Text64 | None = None  # noqa: N815
    invoiceNumber: Text64 | None = None  # noqa: N815


class AnetNotification(msgspec.Struct, frozen=True):
    notificationId: Text128  # noqa: N815
    eventType: Text128  # noqa: N815
    eventDate: str | None = None  # noqa: N815
    webhookId: Text128 | None = None  # noqa: N815
    payload: AnetPayload = msgspec.field(default_factory=AnetPayload)

    @property
    def reference(self) -> str | None:
        """Our reference, as refId comes back (merchantReferenceId) or as invoiceNumber."""
        return self.payload.merchantReferenceId or self.payload.invoiceNumber

    @property
    def occurred_at(self) -> datetime | None:
        """eventDate (up to seven fractional digits); None when absent or unreadable."""
        if not self.eventDate:
            return None
        try:
            parsed = datetime.fromisoformat(self.eventDate)
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else None


def parse_notification(body: bytes) -> AnetNotification:
    """Decode a verified body; not JSON, or not a notification: ValidationFailed."""
    try:
        return msgspec.json.decode(body, type=AnetNotification, strict=True)
    except msgspec.ValidationError as error:
        message, _, path = str(error).partition(" - at `$")
        field = dotted_path(path.rstrip("`"))
        missing = _MISSING_FIELD.match(message)
        if missing:
            field = f"{field}.{missing.group('name')}" if field else missing.group("name")
            message = "required"
        raise ValidationFailed.for_field(field or "body", message.replace("`", "")) from None
    except msgspec.DecodeError:
        raise ValidationFailed.for_field("body", "malformed JSON") from None


EventStatus = Literal["received", "processed", "failed", "dead"]
EVENT_STATUSES: tuple[str, ...] = ("received", "processed", "failed", "dead")


class WebhookEventOut(msgspec.Struct):
    id: str
    source: Annotated[str, one_of(["authorize_net", "simulator"])]
    notification_id: str
    event_type: str
    entity_id: str | None
    status: Annotated[str, one_of(EVENT_STATUSES)]
    outcome: str | None
    attempts: int
    last_error: str | None
    received_at: datetime
    processed_at: datetime | None

    @classmethod
    def of(cls, event: WebhookEvent) -> WebhookEventOut:
        return cls(
            id=event.id,
            source=event.source,
            notification_id=event.notification_id,
            event_type=event.event_type,
            entity_id=event.entity_id,
            status=event.status,
            outcome=event.outcome,
            attempts=event.attempts,
            last_error=event.last_error,
            received_at=event.received_at,
            processed_at=event.processed_at,
        )


class WebhookEventList(msgspec.Struct):
    data: list[WebhookEventOut]
    next_cursor: str | None


class ReplayedOut(msgspec.Struct):
    replayed: int


class InboundAccepted(msgspec.Struct):
    """What the processor gets back: 200, and whether it was seen before."""

    id: str
    duplicate: bool
