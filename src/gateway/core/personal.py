"""Personal data on a row (a transaction, a payment method), sealed to that row
(DESIGN.md invariant 8): customer email (with a blind index), billing address,
card holder name. The row has the same four columns whatever its table."""

from __future__ import annotations

from typing import Protocol

import msgspec

from gateway.core.crypto import FieldCrypto


class PersonalColumns(Protocol):
    id: str
    customer_email_encrypted: str | None
    customer_email_index: str | None
    billing_address_encrypted: str | None
    holder_name_encrypted: str | None


class BillingAddress(msgspec.Struct, frozen=True, omit_defaults=True):
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str | None = None
    state: str | None = None


class PersonalData(msgspec.Struct, frozen=True):
    customer_email: str | None = None
    billing_address: BillingAddress | None = None
    holder_name: str | None = None


def seal(row: PersonalColumns, personal: PersonalData, crypto: FieldCrypto, *, table: str) -> None:
    """Write the sealed columns and the email's blind index onto the row."""

    def sealed(column: str, value: str | None) -> str | None:
        return crypto.seal(value, table=table, column=column, row_id=row.id)

    address = personal.billing_address
    row.customer_email_encrypted = sealed("customer_email", personal.customer_email)
    row.customer_email_index = (
        crypto.blind_index.email(personal.customer_email) if personal.customer_email else None
    )
    row.billing_address_encrypted = sealed(
        "billing_address", msgspec.json.encode(address).decode() if address else None
    )
    row.holder_name_encrypted = sealed("holder_name", personal.holder_name)


def unseal(row: PersonalColumns, crypto: FieldCrypto, *, table: str) -> PersonalData:
    def opened(column: str, token: str | None) -> str | None:
        return crypto.open(token, table=table, column=column, row_id=row.id)

    address = opened("billing_address", row.billing_address_encrypted)
    return PersonalData(
        customer_email=opened("customer_email", row.customer_email_encrypted),
        billing_address=msgspec.json.decode(address, type=BillingAddress) if address else None,
        holder_name=opened("holder_name", row.holder_name_encrypted),
    )
