"""A payment method on the wire, and the answer its state gives."""

from __future__ import annotations

import msgspec

from gateway.core.card_fingerprints import shown_fingerprint
from gateway.core.problems import problem_document
from gateway.idempotency.store import StoredResponse
from gateway.vault.models import PaymentMethod
from gateway.vault.schemas import AddressOut, CardOut, CustomerOut, PaymentMethodOut
from gateway.vault.service import PaymentMethodService


def payment_method_out(method: PaymentMethod, service: PaymentMethodService) -> PaymentMethodOut:
    personal = service.personal(method)
    address = personal.billing_address
    return PaymentMethodOut(
        id=method.id,
        livemode=method.livemode,
        card=CardOut(
            brand=method.card_brand,
            last4=method.card_last4,
            exp_month=method.card_exp_month,
            exp_year=method.card_exp_year,
            fingerprint=shown_fingerprint(service.crypto.fingerprints, method),
        ),
        customer=CustomerOut(id=method.customer_id, email=personal.customer_email)
        if method.customer_id or personal.customer_email
        else None,
        billing_address=AddressOut(
            line1=address.line1,
            line2=address.line2,
            city=address.city,
            state=address.state,
            postal_code=address.postal_code,
            country=address.country,
        )
        if address
        else None,
        created_at=method.created_at,
    )


def created(method: PaymentMethod, service: PaymentMethodService) -> StoredResponse:
    return StoredResponse(201, msgspec.json.encode(payment_method_out(method, service)))


def refused(reason_code: str | None, detail: str) -> StoredResponse:
    return StoredResponse(
        402,
        msgspec.json.encode(
            problem_document(
                code="card_declined",
                detail=f"The processor refused to store the card: {detail.rstrip('.')}.",
                extra={"decline_code": reason_code, "decline_reason": detail},
            )
        ),
    )


def unavailable() -> StoredResponse:
    return StoredResponse(
        503,
        msgspec.json.encode(
            problem_document(
                code="processor_unavailable",
                detail="The processor could not store the card now; nothing was kept. Retry later.",
            )
        ),
    )
