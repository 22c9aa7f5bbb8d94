"""Every column that holds a sealed value (DESIGN.md invariant 8), in one list.

Key rotation, the PCI scan and the encrypted-rows metric walk this list; a new
sealed column is added here or it is neither rotated nor counted.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SealedColumn:
    table: str
    column: str  # the database column holding the `v1:<kid>:...` token
    bound_as: str  # the column name bound into the ciphertext's associated data
    row_id: str = "id"  # the column whose value is bound as the row id


SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn("transactions", "customer_email_encrypted", "customer_email"),
    SealedColumn("transactions", "billing_address_encrypted", "billing_address"),
    SealedColumn("transactions", "holder_name_encrypted", "holder_name"),
    SealedColumn("payment_methods", "processor_token_encrypted", "processor_token"),
    SealedColumn("payment_methods", "customer_email_encrypted", "customer_email"),
    SealedColumn("payment_methods", "billing_address_encrypted", "billing_address"),
    SealedColumn("payment_methods", "holder_name_encrypted", "holder_name"),
    SealedColumn("idempotency_keys", "response_body_encrypted", "response_body"),
    SealedColumn("subscriptions", "customer_email_encrypted", "customer_email"),
    SealedColumn("webhook_endpoints", "secret_encrypted", "secret"),
    SealedColumn("webhook_endpoints", "previous_secret_encrypted", "previous_secret"),
)
