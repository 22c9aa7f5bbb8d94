"""Typed changes a transaction can undergo besides its status.

`TransactionService` takes these instead of loose field names, so a misspelled
field is a type error rather than a silently unsaved attribute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from gateway.payments.responses import PROCESSOR_UNAVAILABLE
from gateway.payments.states import FailureKind
from gateway.processors.port import Outcome, ProcessorResult


@dataclass(frozen=True, slots=True)
class ProcessorFacts:
    """What the processor told about a call it answered: its id and the checks."""

    processor_transaction_id: str | None
    auth_code: str | None = None
    avs_result: str | None = None
    cvv_result: str | None = None

    @classmethod
    def of(cls, result: ProcessorResult) -> ProcessorFacts:
        return cls(
            processor_transaction_id=result.processor_transaction_id,
            auth_code=result.auth_code,
            avs_result=result.avs_result,
            cvv_result=result.cvv_result,
        )


def failure_kind_of(outcome: Outcome) -> FailureKind:
    """The failure an answer of the processor means; only a refusal is one."""
    match outcome:
        case Outcome.DECLINED:
            return FailureKind.DECLINED
        case Outcome.ERROR:
            return FailureKind.PROCESSOR_ERROR
        case Outcome.APPROVED | Outcome.HELD:
            raise ValueError(f"an {outcome} answer is not a failure")
        case _:
            assert_never(outcome)


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a transaction ends `declined` or `failed`: the typed kind, and the
    client-visible code and text (API.md `decline_code`, `decline_reason`)."""

    kind: FailureKind
    decline_reason: str | None
    decline_code: str | None = None
    # None when the processor never answered: its fields are left as they are.
    facts: ProcessorFacts | None = None

    @classmethod
    def not_sent(cls) -> Failure:
        return cls(kind=FailureKind.NOT_SENT, decline_reason=PROCESSOR_UNAVAILABLE)

    @classmethod
    def answered(cls, result: ProcessorResult, kind: FailureKind | None = None) -> Failure:
        """The failure of a declined or erroneous answer; `kind` when the caller knows
        better than the answer (reconciliation: nothing found at the processor)."""
        return cls(
            kind=kind or failure_kind_of(result.outcome),
            decline_reason=result.reason_text,
            decline_code=result.reason_code,
            facts=ProcessorFacts.of(result),
        )
