"""The simulator: the processor port answered in-process, like Authorize.Net's
sandbox plus the deterministic triggers of ANET.md §9.

It writes its ledger on its own engine and commits before it answers, so what
it recorded survives whatever the gateway's transaction then does: the gateway
must treat it exactly as it treats a remote processor. No randomness but the
two load-test knobs (GATEWAY_SIMULATOR_DECLINE_RATE, GATEWAY_SIMULATOR_LATENCY_MS),
and no waiting but the latter: simulated timeouts raise at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

import httpx
import structlog
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from gateway.core.clock import Clock
from gateway.core.settings import Settings
from gateway.processors.port import (
    CaptureRequest,
    ChargeRequest,
    NotSentError,
    Outcome,
    OutcomeUnknownError,
    PortRequest,
    ProcessorResult,
    ProcessorTransaction,
    RefundRequest,
    RequestRejectedError,
    SettledTransaction,
    StoredCard,
    TokenizeRequest,
    VoidRequest,
)
from gateway.processors.simulator import followups, review, webhooks
from gateway.processors.simulator.charges import take_charge
from gateway.processors.simulator.config import SimulatorConfig
from gateway.processors.simulator.cutoff import last_cutoff
from gateway.processors.simulator.errors import UnknownPaymentMethod
from gateway.processors.simulator.identifiers import (
    encode_token,
    parse_token,
    parse_transaction_id,
)
from gateway.processors.simulator.instruments import (
    PROFILE_NOT_FOUND,
    Refusal,
    card_instrument,
)
from gateway.processors.simulator.ledger import SimulatorLedger
from gateway.processors.simulator.models import SimulatorPaymentMethod
from gateway.processors.simulator.outage import Outage, OutageSwitch
from gateway.processors.simulator.review import ReviewDecision
from gateway.processors.simulator.rules import Kind
from gateway.processors.simulator.settled_batches import require_settlement_window
from gateway.processors.simulator.settlement_report import SettlementReport
from gateway.processors.simulator.triggers import (
    EXPIRED_CARD,
    ScriptStep,
    reason_text,
)
from gateway.processors.simulator.views import transaction_view

_log = structlog.get_logger("gateway.simulator")


class Simulator:
    """`gateway.processors.port.Processor`, plus the sandbox's operator side:
    settlement, fraud review and scripted outcomes."""

    name: str = "simulator"

    def __init__(
        self,
        engine: AsyncEngine,
        redis: Redis | None,
        clock: Clock,
        config: SimulatorConfig | None = None,
        *,
        outage: Outage | None = None,
    ) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._clock = clock
        if outage is None:
            assert redis is not None, "the outage flag is in Redis unless one is given"
            outage = OutageSwitch(redis)
        self.outage = outage
        self.config = config or SimulatorConfig()

    @property
    def clock(self) -> Clock:
        """The clock its ledger is dated by (its batches' settlement times)."""
        return self._clock

    @classmethod
    def from_settings(
        cls, settings: Settings, *, engine: AsyncEngine, redis: Redis, clock: Clock
    ) -> Simulator:
        return cls(engine, redis, clock, SimulatorConfig.from_settings(settings))

    # -- the port: every call may meet an outage and the configured latency -----

    def check(self, request: PortRequest) -> None:
        """The simulator takes whatever the API's own validation let through."""

    async def purchase(self, request: ChargeRequest) -> ProcessorResult:
        return await self._charge(request, Kind.PURCHASE)

    async def authorize(self, request: ChargeRequest) -> ProcessorResult:
        return await self._charge(request, Kind.AUTHORIZATION)

    async def capture(self, request: CaptureRequest) -> ProcessorResult:
        await self._reach()
        async with self._ledger() as ledger:
            result = await followups.capture(ledger, request, now=self._clock.now())
            await self._notify_followup(ledger, webhooks.EventType.PRIOR_AUTH_CAPTURE, result)
        return self._logged("capture", request.reference, result)

    async def void(self, request: VoidRequest) -> ProcessorResult:
        await self._reach()
        async with self._ledger() as ledger:
            result = await followups.void(ledger, request, now=self._clock.now())
            await self._notify_followup(ledger, webhooks.EventType.VOID, result)
        return self._logged("void", request.reference, result)

    async def refund(self, request: RefundRequest) -> ProcessorResult:
        await self._reach()
        async with self._ledger() as ledger:
            result = await followups.refund(
                ledger, request, config=self.config, now=self._clock.now()
            )
            await self._notify_followup(ledger, webhooks.EventType.REFUND, result)
        return self._logged("refund", request.reference, result)

    async def get_transaction(self, processor_transaction_id: str) -> ProcessorTransaction | None:
        await self._reach()
        transaction_id = parse_transaction_id(processor_transaction_id)
        if transaction_id is None:
            return None
        async with self._ledger() as ledger:
            row = await ledger.transaction(transaction_id)
        return (
            None
            if row is None
            else transaction_view(
                row, kind=row.kind, reference=row.reference, now=self._clock.now()
            )
        )

    async def find_by_reference(self, reference: str) -> ProcessorTransaction | None:
        """The charge or refund made with this reference, as Authorize.Net's lists
        match the invoiceNumber: a capture's or a void's own reference finds nothing
        (their parent's record tells whether they landed)."""
        await self._reach()
        async with self._ledger() as ledger:
            row = await ledger.latest_by_reference(reference)
        return (
            None
            if row is None
            else transaction_view(
                row, kind=row.kind, reference=row.reference, now=self._clock.now()
            )
        )

    async def tokenize(self, request: TokenizeRequest) -> StoredCard:
        """A customer payment profile; a repeat with the same reference (our pm_ id)
        returns the one already made rather than a second."""
        await self._reach()
        now = self._clock.now()
        instrument = card_instrument(request.card, now=now)
        if isinstance(instrument, Refusal) or instrument.expired:
            code = instrument.reason_code if isinstance(instrument, Refusal) else EXPIRED_CARD
            raise RequestRejectedError(
                reason_text(Outcome.DECLINED, code) or "card refused", reason_code=code
            )
        async with self._ledger() as ledger:
            method = await ledger.live_payment_method_by_reference(request.reference)
            if method is None:
                customer_profile_id, payment_profile_id = await ledger.new_payment_method_ids()
                method = SimulatorPaymentMethod(
                    id=payment_profile_id,
                    customer_profile_id=customer_profile_id,
                    reference=request.reference,
                    card_brand=instrument.brand,
                    card_last4=instrument.last4,
                    exp_month=instrument.exp_month,
                    exp_year=instrument.exp_year,
                    trigger_class=instrument.trigger_class,
                    created_at=now,
                )
                await ledger.add(method)
        return StoredCard(
            token=encode_token(method.customer_profile_id, method.id),
            brand=method.card_brand,
            last4=method.card_last4,
            exp_month=method.exp_month,
            exp_year=method.exp_year,
        )

    async def delete_payment_method(self, token: str) -> None:
        """Deleting a deleted token is a no-op, so a retried delete succeeds; a token
        that never existed is refused (E00040)."""
        await self._reach()
        now = self._clock.now()
        async with self._ledger() as ledger:
            method = await self._payment_method(ledger, token, for_update=True)
            if method is None:
                raise RequestRejectedError(
                    reason_text(Outcome.ERROR, PROFILE_NOT_FOUND) or "not found",
                    reason_code=PROFILE_NOT_FOUND,
                )
            if method.deleted_at is None:
                method.deleted_at = now

    # -- the operator's side (the sandbox's merchant interface): no outage applies

    async def settle(self, *, everything: bool = False) -> SettlementReport:
        """Settle what joined the queue before the last cut-off (everything unsettled
        when `everything`), and expire authorizations past their lifetime."""
        now = self._clock.now()
        cutoff = None if everything else last_cutoff(now, self.config.settlement_cutoff)
        async with self._ledger() as ledger:
            expired = await ledger.expire_authorizations(now)
            batch_id, settled = await ledger.settle(before=cutoff, at=now)
        _log.info(
            "simulator.settled", batch_id=batch_id, settled=len(settled), expired=len(expired)
        )
        return SettlementReport(
            batch_id=None if batch_id is None else str(batch_id),
            cutoff=cutoff,
            settled_at=now,
            settled=tuple(str(transaction_id) for transaction_id in settled),
            expired=tuple(str(transaction_id) for transaction_id in expired),
        )

    async def review(self, reference: str, decision: ReviewDecision) -> ProcessorTransaction:
        """Decide a charge held for review (reasons 252/253), found by our reference."""
        async with self._ledger() as ledger:
            row = await review.decide(
                ledger, reference, decision, notify=self.config.webhooks, now=self._clock.now()
            )
        _log.info("simulator.reviewed", reference=reference, decision=decision)
        return transaction_view(row, kind=row.kind, reference=row.reference, now=self._clock.now())

    async def settled_transactions(
        self, first: datetime, last: datetime
    ) -> list[SettledTransaction]:
        """Every transaction of the batches settled from `first` to `last`, as
        getSettledBatchList then getTransactionList report them."""
        await self._reach()
        require_settlement_window(first, last)
        async with self._ledger() as ledger:
            return await ledger.settled_between(first, last)

    async def post_webhook(
        self, notification_id: str, *, url: str, key: str, client: httpx.AsyncClient
    ) -> str:
        """Sign and post one recorded webhook; raises while the gateway does not take it.
        No ledger transaction is open during the post."""
        async with self._ledger() as ledger:
            webhook = await ledger.webhook(notification_id)
        if webhook is None:
            return "missing"
        if webhook.delivered_at is not None:
            return "already_delivered"
        await webhooks.post(client, url, webhook.body.encode(), key)
        async with self._ledger() as ledger:
            await ledger.mark_webhook_delivered(notification_id, at=self._clock.now())
        _log.info(
            "simulator.webhook_posted",
            notification_id=notification_id,
            event_type=webhook.event_type,
        )
        return "posted"

    async def set_script(self, token: str, steps: Sequence[ScriptStep]) -> None:
        """The next charges of this token follow `steps` in order (replacing what is
        left of an earlier script), then the normal rules."""
        async with self._ledger() as ledger:
            method = await self._payment_method(ledger, token, for_update=True)
            if method is None or method.deleted_at is not None:
                raise UnknownPaymentMethod(
                    "the simulator has no live payment method with this token"
                )
            await ledger.replace_script(method.id, steps, now=self._clock.now())

    # -- internals

    @contextlib.asynccontextmanager
    async def _ledger(self) -> AsyncIterator[SimulatorLedger]:
        # Committed when the block ends, before the caller sees any answer; an
        # exception inside rolls back, so a call lost "before recording" keeps nothing.
        async with self._sessions() as session, session.begin():
            yield SimulatorLedger(session)

    async def _reach(self) -> None:
        """What happens on the way to the processor: an outage, the configured delay."""
        if await self.outage.is_on():
            raise NotSentError("simulator outage: connection refused")
        if self.config.latency_ms:
            jitter = random.uniform(0.5, 1.5)  # noqa: S311 - load-test noise, not security
            await asyncio.sleep(self.config.latency_ms * jitter / 1000)

    def _random_decline(self) -> bool:
        rate = self.config.decline_rate
        return rate > 0 and random.random() < rate  # noqa: S311 - load-test noise, not security

    async def _charge(self, request: ChargeRequest, kind: Kind) -> ProcessorResult:
        await self._reach()
        async with self._ledger() as ledger:
            answer = await take_charge(
                ledger,
                request,
                kind,
                config=self.config,
                now=self._clock.now(),
                random_decline=self._random_decline,
            )
            if answer.row is not None and self.config.webhooks:
                outcome = answer.result.outcome
                await webhooks.record(
                    ledger.session,
                    webhooks.charge_event(kind, outcome),
                    answer.row,
                    outcome=outcome,
                    now=self._clock.now(),
                )
        self._logged(str(kind), request.reference, answer.result, lost=answer.lost)
        if answer.lost:
            raise OutcomeUnknownError("simulated read timeout: the charge was recorded")
        return answer.result

    async def _notify_followup(
        self, ledger: SimulatorLedger, event_type: webhooks.EventType, result: ProcessorResult
    ) -> None:
        """A capture, void or refund that changed the ledger is notified; a refused
        call or a 310/311 repeat changed nothing and is not."""
        if not self.config.webhooks or result.outcome is not Outcome.APPROVED:
            return
        if result.already_done or result.processor_transaction_id is None:
            return
        row = await ledger.transaction(int(result.processor_transaction_id))
        assert row is not None  # it was just acted on, in this transaction
        amount = row.settle_amount if event_type is webhooks.EventType.PRIOR_AUTH_CAPTURE else None
        await webhooks.record(
            ledger.session,
            event_type,
            row,
            outcome=Outcome.APPROVED,
            now=self._clock.now(),
            amount=amount,
        )

    @staticmethod
    def _logged(
        operation: str, reference: str, result: ProcessorResult, *, lost: bool = False
    ) -> ProcessorResult:
        _log.info(
            "simulator.answered",
            operation=operation,
            reference=reference,
            outcome=str(result.outcome),
            reason_code=result.reason_code,
            response_lost=lost,
        )
        return result

    @staticmethod
    async def _payment_method(
        ledger: SimulatorLedger, token: str, *, for_update: bool = False
    ) -> SimulatorPaymentMethod | None:
        ids = parse_token(token)
        if ids is None:
            return None
        return await ledger.payment_method(*ids, for_update=for_update)
