"""What can go wrong with an inbound webhook, in API.md's codes."""

from __future__ import annotations

from gateway.core.errors import GatewayError


class InvalidSignature(GatewayError):
    code = "invalid_signature"


class EventNotMatched(Exception):
    """No transaction of ours matches the event yet: asked again until the grace
    window (GATEWAY_WEBHOOK_UNMATCHED_GRACE_S) ends."""


class TransactionBusy(Exception):
    """One of our own operations on the transaction is unfinished: asked again later."""


class NoConnector(Exception):
    """Events of a processor this deployment does not talk to cannot be checked."""
