"""The processor port: one async interface every service uses to move money.

Amounts are integer minor units with their currency; a connector converts them
at its own wire. Our transaction id travels as the `reference` (Authorize.Net's
refId and invoiceNumber), so a lookup by reference can tell whether a charge or
a refund that timed out landed (STYLE.md 11).

The port exposes only what Authorize.Net does (ANET.md §2, §4): a capture and a
void make no transaction id of their own, they change their parent's, and no
list finds them by their own reference. Whether one landed is read from the
parent's record (`get_transaction` of the parent's id), never by reference.

Failures are told apart by what they mean for a retry:
- `NotSentError`: the request provably never reached the processor (connection
  refused, DNS, TLS handshake): safe to retry.
  An `OperatorError` is not sent either, but no retry can help it.
- `OutcomeUnknownError`: the request may have been processed (read timeout after
  sending): never resend; ask the processor (`get_transaction`,
  `find_by_reference`) what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Literal, Protocol, runtime_checkable


class Outcome(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    ERROR = "error"  # the processor answered with an error (reason 19-23, 57-63, 11, 16, ...)
    HELD = "held"  # held for review by the processor's fraud filters


class ProcessorError(Exception):
    """Base of the failures of a processor call."""


class NotSentError(ProcessorError):
    """The request never reached the processor: retrying is safe."""


class OperatorError(NotSentError):
    """Nothing was processed, because the processor refused this deployment as a
    whole (its credentials, its environment): a failure of the processor for the
    breaker, but one that no retry can fix, so it is never retried."""


class OutcomeUnknownError(ProcessorError):
    """The request may have been processed: never resend blindly, look it up."""


class RequestRejectedError(ProcessorError):
    """The processor refused a call that moves no money (tokenize, delete)."""

    def __init__(self, message: str, *, reason_code: str | None = None) -> None:
        super().__init__(message)
        self.reason_code = reason_code


@dataclass(frozen=True, repr=False)
class Card:
    """A card as entered. It passes through to the processor and is never stored,
    logged or queued (DESIGN.md invariant 2); its repr shows only the last 4."""

    number: str
    exp_month: int
    exp_year: int
    cvv: str | None = None
    holder_name: str | None = None

    @property
    def last4(self) -> str:
        return self.number[-4:]

    def __repr__(self) -> str:
        return f"Card(****{self.last4}, {self.exp_month:02d}/{self.exp_year})"


@dataclass(frozen=True)
class Address:
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str | None = None
    state: str | None = None


@dataclass(frozen=True)
class StoredCard:
    """A payment method the processor keeps: its opaque token and what we may show."""

    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class ChargeRequest:
    """purchase (authorize and capture) or authorize only."""

    reference: str  # our txn_ id, sent as refId and invoiceNumber
    amount: int
    currency: str
    card: Card | None = None
    token: str | None = None  # a StoredCard.token instead of a card
    cvv: str | None = None  # may accompany a token charge
    billing_address: Address | None = None
    customer_id: str | None = None
    customer_email: str | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        if (self.card is None) == (self.token is None):
            raise ValueError("a charge needs exactly one of card or token")
        if self.amount <= 0:
            raise ValueError("amount must be positive")


@dataclass(frozen=True)
class CaptureRequest:
    reference: str  # the capture's own txn_ id
    processor_transaction_id: str  # the authorization's
    amount: int | None  # None: all that was authorized
    currency: str


@dataclass(frozen=True)
class RefundRequest:
    reference: str  # the refund's own txn_ id
    processor_transaction_id: str  # the settled charge's
    amount: int
    currency: str
    card_last4: str  # Authorize.Net wants the last 4 of the original card


@dataclass(frozen=True)
class VoidRequest:
    reference: str  # the void's own txn_ id
    processor_transaction_id: str


@dataclass(frozen=True)
class TokenizeRequest:
    reference: str  # our pm_ id
    card: Card
    billing_address: Address | None = None
    customer_id: str | None = None
    customer_email: str | None = None


@dataclass(frozen=True)
class ProcessorResult:
    """What the processor answered to a money-moving call."""

    outcome: Outcome
    processor_transaction_id: str | None
    reason_code: str | None = None  # e.g. "2", "27", "65"; None when approved plainly
    reason_text: str | None = None
    auth_code: str | None = None
    avs_result: str | None = None
    cvv_result: str | None = None
    # 310/311: the call repeated something already done; no new money moved.
    already_done: bool = False


@dataclass(frozen=True)
class ProcessorTransaction:
    """The processor's record of a transaction (getTransactionDetails)."""

    processor_transaction_id: str
    reference: str | None
    kind: str  # purchase, authorization, capture, refund, void
    status: str  # Authorize.Net's transactionStatus, e.g. capturedPendingSettlement
    amount: int  # authorized (charges) or refunded (refunds), minor units
    settled_amount: int
    currency: str
    reason_code: str | None
    auth_code: str | None
    submitted_at: datetime
    settled_at: datetime | None
    parent_processor_transaction_id: str | None = None


# What a settled transaction moved: a charge pays the merchant, a refund pays back.
SettledKind = Literal["charge", "refund"]


@dataclass(frozen=True)
class SettledTransaction:
    """One transaction of a settled batch (getSettledBatchList + getTransactionList)."""

    processor_transaction_id: str
    batch_id: str
    settled_at: datetime
    kind: SettledKind
    amount: int  # what settled (settleAmount), minor units
    currency: str


# The widest window a settled-batch report covers (getSettledBatchList, ANET.md §4).
MAX_SETTLEMENT_WINDOW: Final = timedelta(days=31)


@runtime_checkable
class SettlementReports(Protocol):
    """What a processor says it settled: the gateway learns settlement only from
    the processor's settled batches, never from its own guess."""

    async def settled_transactions(
        self, first: datetime, last: datetime
    ) -> list[SettledTransaction]:
        """Every transaction of the batches settled between `first` and `last`
        (aware datetimes, at most 31 days apart)."""
        ...


# Every request the port sends.
PortRequest = ChargeRequest | CaptureRequest | RefundRequest | VoidRequest | TokenizeRequest


@runtime_checkable
class Processor(Protocol):
    """Every implementation answers each call, or raises NotSentError or
    OutcomeUnknownError; declines and processor errors are results, not exceptions."""

    name: str

    def check(self, request: PortRequest) -> None:
        """Raise `ValidationFailed` (a 400 naming the field) for a request this
        processor would refuse before sending it (a field over its limit, a
        currency its account does not take). Called while the movement is still
        being decided, so such a request leaves nothing behind."""
        ...

    async def authorize(self, request: ChargeRequest) -> ProcessorResult: ...

    async def purchase(self, request: ChargeRequest) -> ProcessorResult: ...

    async def capture(self, request: CaptureRequest) -> ProcessorResult: ...

    async def refund(self, request: RefundRequest) -> ProcessorResult: ...

    async def void(self, request: VoidRequest) -> ProcessorResult: ...

    async def get_transaction(self, processor_transaction_id: str) -> ProcessorTransaction | None:
        """The processor's record of one transaction id (getTransactionDetails);
        after a capture or a void, the record of the transaction it acted on."""
        ...

    async def find_by_reference(self, reference: str) -> ProcessorTransaction | None:
        """The charge (purchase, authorization) or refund made with this reference
        (the invoiceNumber), the latest if several; None otherwise. A capture or
        a void is never found by its own reference: see `get_transaction`."""
        ...

    async def tokenize(self, request: TokenizeRequest) -> StoredCard: ...

    async def delete_payment_method(self, token: str) -> None: ...
