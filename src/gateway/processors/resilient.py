"""A processor behind the circuit breaker, with retries only where they are safe.

- Money-moving calls are retried only on `NotSentError` (the request provably
  never reached the processor), with exponential backoff and jitter under one
  total deadline. A read timeout after sending (`OutcomeUnknownError`) is never
  retried: the transaction stays pending and reconciliation asks.
- Read-only lookups are retried on both, since asking twice changes nothing.
- An `OperatorError` (the processor refused our credentials or environment) is
  never retried, but counts for the breaker like any unreachable processor.
- The breaker counts a call that ends unreachable (not sent after the retries,
  or unknown) as one failure; any answer, a decline included, is a success.
- Every call holds a breaker `Permit`: the API's operations take theirs before
  phase 1 commits (so a refusal leaves nothing written) and pass it in; a job's
  call without one asks the breaker itself, under the same single-trial rule.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)

from gateway.processors.breaker import BreakerState, CircuitBreaker, Permit, ProcessorUnavailable
from gateway.processors.port import (
    CaptureRequest,
    ChargeRequest,
    NotSentError,
    OperatorError,
    OutcomeUnknownError,
    PortRequest,
    Processor,
    ProcessorResult,
    ProcessorTransaction,
    RefundRequest,
    SettledTransaction,
    SettlementReports,
    StoredCard,
    TokenizeRequest,
    VoidRequest,
)

T = TypeVar("T")

_UNREACHABLE = (NotSentError, OutcomeUnknownError)


class ResilientProcessor:
    def __init__(self, inner: Processor, breaker: CircuitBreaker, *, deadline_s: float) -> None:
        self.inner = inner
        self.name = inner.name
        self.breaker = breaker
        self.deadline_s = deadline_s

    async def admit(self) -> Permit:
        """Refuse at once while the breaker is open (ProcessorUnavailable), before
        anything is committed; else the permit the call then presents."""
        return await self.breaker.admit()

    async def state(self) -> BreakerState:
        return await self.breaker.state()

    def _retrying(self, *retry_on: type[BaseException]) -> AsyncRetrying:
        return AsyncRetrying(
            # The operator's error (credentials, environment) stays until they fix it.
            retry=retry_if_exception_type(retry_on) & retry_if_not_exception_type(OperatorError),
            stop=stop_after_delay(self.deadline_s),
            wait=wait_exponential_jitter(multiplier=0.05, max=1.0, jitter=0.05),
            reraise=True,
        )

    async def _call(
        self,
        attempt: Callable[[], Awaitable[T]],
        *retry_on: type[BaseException],
        permit: Permit | None,
    ) -> T:
        if permit is None:
            try:
                permit = await self.breaker.admit()
            except ProcessorUnavailable as refused:
                # A job must not hammer a processor that is down either: nothing sent.
                raise NotSentError(f"circuit open for {self.name}") from refused
        try:
            async for retry in self._retrying(*retry_on):
                with retry:
                    result = await attempt()
        except _UNREACHABLE:
            await self.breaker.record_failure()
            raise
        await self.breaker.record_success(permit)
        return result

    async def _move_money(self, attempt: Callable[[], Awaitable[T]], permit: Permit | None) -> T:
        return await self._call(attempt, NotSentError, permit=permit)

    async def _look_up(self, attempt: Callable[[], Awaitable[T]]) -> T:
        return await self._call(attempt, *_UNREACHABLE, permit=None)

    def check(self, request: PortRequest) -> None:
        self.inner.check(request)

    async def authorize(
        self, request: ChargeRequest, *, permit: Permit | None = None
    ) -> ProcessorResult:
        return await self._move_money(lambda: self.inner.authorize(request), permit)

    async def purchase(
        self, request: ChargeRequest, *, permit: Permit | None = None
    ) -> ProcessorResult:
        return await self._move_money(lambda: self.inner.purchase(request), permit)

    async def capture(
        self, request: CaptureRequest, *, permit: Permit | None = None
    ) -> ProcessorResult:
        return await self._move_money(lambda: self.inner.capture(request), permit)

    async def refund(
        self, request: RefundRequest, *, permit: Permit | None = None
    ) -> ProcessorResult:
        return await self._move_money(lambda: self.inner.refund(request), permit)

    async def void(self, request: VoidRequest, *, permit: Permit | None = None) -> ProcessorResult:
        return await self._move_money(lambda: self.inner.void(request), permit)

    async def tokenize(
        self, request: TokenizeRequest, *, permit: Permit | None = None
    ) -> StoredCard:
        # A retried tokenization could at worst leave a spare card profile: no money.
        return await self._move_money(lambda: self.inner.tokenize(request), permit)

    async def delete_payment_method(self, token: str) -> None:
        await self._move_money(lambda: self.inner.delete_payment_method(token), None)

    async def get_transaction(self, processor_transaction_id: str) -> ProcessorTransaction | None:
        return await self._look_up(lambda: self.inner.get_transaction(processor_transaction_id))

    async def find_by_reference(self, reference: str) -> ProcessorTransaction | None:
        return await self._look_up(lambda: self.inner.find_by_reference(reference))

    @property
    def reports_settlement(self) -> bool:
        """Whether the processor reports its settled batches (SettlementReports)."""
        return isinstance(self.inner, SettlementReports)

    async def settled_transactions(
        self, first: datetime, last: datetime
    ) -> list[SettledTransaction]:
        """A read-only look-up like `get_transaction`; raises TypeError when the
        processor reports no settled batches (ask `reports_settlement` first)."""
        inner = self.inner
        if not isinstance(inner, SettlementReports):
            raise TypeError(f"{self.name} does not report its settled batches")
        return await self._look_up(lambda: inner.settled_transactions(first, last))
