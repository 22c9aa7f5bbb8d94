"""Metrics of every processor call, at the one place all calls pass: the
resilient processor the composition root builds (so connectors stay unaware).

- gateway_processor_call_duration_seconds{processor, operation, outcome}: the
  whole call as its caller waits for it, safe retries included;
- gateway_payments_total{type, outcome, currency} and
  gateway_payment_amount_minor_total{type, outcome, currency}: each money
  movement the processor was asked for (authorize, purchase, capture, refund,
  void) by its answer, with its amount in the currency's minor units (a void,
  and a capture of "all that was authorized", carry no amount of their own);
- gateway_declines_total{type, code}: declines by the processor's reason code
  (a bounded set: Authorize.Net's response reason codes, the simulator's).

Outcomes: the processor's answer (`approved`, `declined`, `error`, `held`), or
`not_sent` (provably never reached it, breaker refusals included), `unknown`
(may have been processed), `failed` (anything else). Look-ups that answer are
`ok`. Samples go to the multiprocess directory like every other counter, so the
API's scrape sums the workers' renewals and sweeps with its own requests.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from prometheus_client import Counter, Histogram

from gateway.processors.breaker import Permit
from gateway.processors.port import (
    CaptureRequest,
    ChargeRequest,
    NotSentError,
    OutcomeUnknownError,
    ProcessorResult,
    ProcessorTransaction,
    RefundRequest,
    StoredCard,
    TokenizeRequest,
    VoidRequest,
)
from gateway.processors.resilient import ResilientProcessor

T = TypeVar("T")

CALL_DURATION: Final = Histogram(
    "gateway_processor_call_duration_seconds",
    "Processor calls as their caller waits for them (safe retries included).",
    ["processor", "operation", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30),
)
PAYMENTS: Final = Counter(
    "gateway_payments",
    "Money movements asked of the processor, by type, outcome and currency.",
    ["type", "outcome", "currency"],
)
PAYMENT_AMOUNT: Final = Counter(
    "gateway_payment_amount_minor",
    "Amounts of those movements, in the currency's minor units.",
    ["type", "outcome", "currency"],
)
DECLINES: Final = Counter(
    "gateway_declines",
    "Declined movements by type and the processor's reason code.",
    ["type", "code"],
)


def _failure_outcome(error: BaseException) -> str:
    if isinstance(error, NotSentError):
        return "not_sent"
    if isinstance(error, OutcomeUnknownError):
        return "unknown"
    return "failed"


class MeteredProcessor(ResilientProcessor):
    """A `ResilientProcessor` whose calls are timed and whose money counted."""

    async def _timed(
        self,
        operation: str,
        call: Callable[[], Awaitable[T]],
        outcome_of: Callable[[T], str] = lambda _: "ok",
    ) -> T:
        started = time.perf_counter()
        try:
            result = await call()
        except Exception as error:
            self._observe(operation, _failure_outcome(error), started)
            raise
        self._observe(operation, outcome_of(result), started)
        return result

    def _observe(self, operation: str, outcome: str, started: float) -> None:
        CALL_DURATION.labels(self.name, operation, outcome).observe(time.perf_counter() - started)

    async def _money(
        self,
        kind: str,
        call: Callable[[], Awaitable[ProcessorResult]],
        *,
        currency: str,
        amount: int | None,
    ) -> ProcessorResult:
        outcome = "failed"
        try:
            result = await self._timed(kind, call, lambda answer: answer.outcome.value)
            outcome = result.outcome.value
            if outcome == "declined":
                DECLINES.labels(kind, result.reason_code or "none").inc()
            return result
        except Exception as error:
            outcome = _failure_outcome(error)
            raise
        finally:
            PAYMENTS.labels(kind, outcome, currency).inc()
            if amount is not None:
                PAYMENT_AMOUNT.labels(kind, outcome, currency).inc(amount)

    async def authorize(
        self, request: ChargeRequest, *, permit: Permit | None = None
    ) -> ProcessorResult:
        return await self._money(
            "authorize",
            lambda: super(MeteredProcessor, self).authorize(request, permit=permit),
            currency=request.currency,
            amount=request.amount,
        )

    async def purchase(
        self, request: ChargeRequest, *, permit: Permit | None = None
    ) -> ProcessorResult:
        return await self._money(
            "purchase",
            lambda: super(MeteredProcessor, self).purchase(request, permit=permit),
            currency=request.currency,
            amount=request.amount,
        )

    async def capture(
        self, request: CaptureRequest, *, permit: Permit | None = None
    ) -> ProcessorResult:
        return await self._money(
            "capture",
            lambda: super(MeteredProcessor, self).capture(request, permit=permit),
            currency=request.currency,
            amount=request.amount,
        )

    async def refund(
        self, request: RefundRequest, *, permit: Permit | None = None
    ) -> ProcessorResult:
        return await self._money(
            "refund",
            lambda: super(MeteredProcessor, self).refund(request, permit=permit),
            currency=request.currency,
            amount=request.amount,
        )

    async def void(self, request: VoidRequest, *, permit: Permit | None = None) -> ProcessorResult:
        return await self._money(
            "void",
            lambda: super(MeteredProcessor, self).void(request, permit=permit),
            currency="",
            amount=None,
        )

    async def tokenize(
        self, request: TokenizeRequest, *, permit: Permit | None = None
    ) -> StoredCard:
        return await self._timed(
            "tokenize", lambda: super(MeteredProcessor, self).tokenize(request, permit=permit)
        )

    async def delete_payment_method(self, token: str) -> None:
        await self._timed(
            "delete_payment_method",
            lambda: super(MeteredProcessor, self).delete_payment_method(token),
        )

    async def get_transaction(self, processor_transaction_id: str) -> ProcessorTransaction | None:
        return await self._timed(
            "get_transaction",
            lambda: super(MeteredProcessor, self).get_transaction(processor_transaction_id),
        )

    async def find_by_reference(self, reference: str) -> ProcessorTransaction | None:
        return await self._timed(
            "find_by_reference",
            lambda: super(MeteredProcessor, self).find_by_reference(reference),
        )
