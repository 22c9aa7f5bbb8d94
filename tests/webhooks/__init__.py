"""Inbound webhook tests; the bodies they post."""

from __future__ import annotations

import uuid


def notification(
    entity_id: str,
    *,
    event_type: str = "net.authorize.payment.authcapture.created",
    reference: str | None = None,
    amount: str = "10.00",
    notification_id: str | None = None,
    entity_name: str = "transaction",
) -> bytes:
    """A body as Authorize.Net writes it: `authAmount` a number with its trailing
    zeros, `id` a string, seven fractional digits in the date."""
    reference_fields = (
        f'"merchantReferenceId":"{reference}","invoiceNumber":"{reference}",' if reference else ""
    )
    return (
        "{"
        f'"notificationId":"{notification_id or uuid.uuid4()}",'
        f'"eventType":"{event_type}",'
        '"eventDate":"2026-01-15T12:00:00.1234567Z",'
        '"webhookId":"0bba3bbe-5f36-43e6-b5e5-1a1a0e2b0c4f",'
        '"payload":{"responseCode":1,"authCode":"LZ6I19","avsResponse":"Y",'
        f'"authAmount":{amount},{reference_fields}'
        f'"entityName":"{entity_name}","id":"{entity_id}"'
        "}}"
    ).encode()
