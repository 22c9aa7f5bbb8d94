"""Personal data of a transaction, sealed to its row (DESIGN.md invariant 8)."""

from __future__ import annotations

import msgspec

from gateway.core.crypto import FieldCrypto
from gateway.payments.models import Transaction

TABLE = "transactions"


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


def seal(transaction: Transaction, personal: PersonalData, crypto: FieldCrypto) -> None:
    """Write the sealed columns and the email's blind index onto the row."""

    def sealed(column: str, value: str | None) -> str | None:
        return crypto.seal(value, table=TABLE, column=column, row_id=transaction.id)

    address = personal.billing_address
    transaction.customer_email_encrypted = sealed("customer_email", personal.customer_email)
    transaction.customer_email_index = (
        crypto.blind_index.email(personal.customer_email) if personal.customer_email else None
    )
    transaction.billing_address_encrypted = sealed(
        "billing_address", msgspec.json.encode(address).decode() if address else None
    )
    transaction.holder_name_encrypted = sealed("holder_name", personal.holder_name)


def unseal(transaction: Transaction, crypto: FieldCrypto) -> PersonalData:
    def opened(column: str, token: str | None) -> str | None:
        return crypto.open(token, table=TABLE, column=column, row_id=transaction.id)

    address = opened("billing_address", transaction.billing_address_encrypted)
    return PersonalData(
        customer_email=opened("customer_email", transaction.customer_email_encrypted),
        billing_address=msgspec.json.decode(address, type=BillingAddress) if address else None,
        holder_name=opened("holder_name", transaction.holder_name_encrypted),
    )
