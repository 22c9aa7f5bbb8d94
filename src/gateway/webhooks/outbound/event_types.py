"""The event types merchants subscribe to (API.md "Webhooks / Outbound"), in
the contract's order. An endpoint takes any of them, or `["*"]` for all."""

from __future__ import annotations

from typing import Final

EVERY_EVENT: Final = "*"

EVENT_TYPES: Final[tuple[str, ...]] = (
    "payment.authorized",
    "payment.captured",
    "payment.declined",
    "payment.failed",
    "payment.pending",
    "payment.refunded",
    "payment.voided",
    "payment.expired",
    "payment.requires_review",
    "subscription.created",
    "subscription.renewed",
    "subscription.past_due",
    "subscription.payment_failed",
    "subscription.paused",
    "subscription.canceled",
    "subscription.expired",
)


def subscribed(events: list[str], event_type: str) -> bool:
    """Whether an endpoint listening to `events` hears of `event_type`."""
    return EVERY_EVENT in events or event_type in events
