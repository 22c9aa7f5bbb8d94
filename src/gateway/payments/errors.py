"""Payment errors, named by API.md's stable codes (their statuses live in `core.problems`)."""

from __future__ import annotations

from gateway.core.errors import GatewayError, InvalidState


class _AboutTransaction(GatewayError):
    """An error about one transaction: clients get its id as `transaction_id`."""

    def __init__(self, detail: str, *, transaction_id: str | None = None) -> None:
        extra = {"transaction_id": transaction_id} if transaction_id is not None else None
        super().__init__(detail, extra=extra)
        self.transaction_id = transaction_id


class InvalidTransition(_AboutTransaction, InvalidState):
    """The transaction's state forbids the operation (409 `invalid_state`)."""


class AmountExceedsCapturable(_AboutTransaction):
    code = "amount_exceeds_capturable"


class AmountExceedsRefundable(_AboutTransaction):
    code = "amount_exceeds_refundable"
