"""What every money-moving operation hands from phase to phase: who asks (the
context), what phase 1 reserved and what phase 2 learnt (the reservation), and
the turning of the processor's exceptions into that outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from gateway.audit.service import Actor
from gateway.core.crypto import FieldCrypto
from gateway.core.tenancy import Owner
from gateway.payments.models import Transaction
from gateway.payments.states import (
    FailureKind,
)
from gateway.processors.breaker import Permit
from gateway.processors.port import (
    NotSentError,
    OutcomeUnknownError,
    ProcessorResult,
)
from gateway.processors.resilient import ResilientProcessor


class CallResult(StrEnum):
    ANSWERED = "answered"
    NOT_SENT = "not_sent"
    UNKNOWN = "unknown"


@dataclass
class Reserved:
    """What phase 1 hands to phases 2 and 3 (in memory only)."""

    object_id: str  # the transaction phase 1 wrote
    parent_id: str | None = None
    as_void: bool = False
    # Phase 2's outcome.
    call: CallResult | None = None
    result: ProcessorResult | None = None
    # When the processor took a charge, if not just now: reconciliation learns an
    # outcome later, and an authorization's lifetime runs from the processor's clock.
    processed_at: datetime | None = None
    # Set by reconciliation when a refusal is its own verdict, not the processor's
    # answer (nothing found there): what the failure records instead.
    failure_kind: FailureKind | None = None
    # Only for charges by card: never persisted.
    request: Any = field(default=None, repr=False)
    # The breaker's permit for phase 2, taken as phase 1's last step.
    permit: Permit | None = None
    # The transaction itself, when phase 3's caller already holds its row lock in
    # this session (reconciliation, a webhook): a charge's finalizer then does not
    # read and lock it again.
    locked: Transaction | None = field(default=None, repr=False)

    @property
    def never_reached_processor(self) -> bool:
        """The call provably never reached the processor: not sent, or reconciliation
        found no trace of it there. A job's void in that state is simply due again."""
        return (
            self.call is CallResult.NOT_SENT
            or self.failure_kind is FailureKind.NOT_FOUND_AT_PROCESSOR
        )


@dataclass(frozen=True)
class Context:
    """Who asks, and the tools a payment needs."""

    owner: Owner
    actor: Actor
    processor: ResilientProcessor
    crypto: FieldCrypto
    max_amount: int
    auth_expiry_days: float
    refund_window_days: int


async def call_processor(reserved: Reserved, attempt: Any) -> None:
    """Phase 2: turn the processor's exceptions into the reservation's outcome."""
    try:
        reserved.result = await attempt()
        reserved.call = CallResult.ANSWERED
    except NotSentError:
        reserved.call = CallResult.NOT_SENT
    except OutcomeUnknownError:
        reserved.call = CallResult.UNKNOWN
