"""What an admin operator may do from the console, each through the same service
as the API or the command line, and each written to the audit log.

Money moves through `PaymentCommands` under an Idempotency-Key the page made when
it was shown: a form sent twice (a double click, a reload) gets the first answer,
never a second refund.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.service import Actor
from gateway.composition.resources import Resources
from gateway.console.queries import ConsoleQueries
from gateway.console.service import OperatorContext, OperatorService
from gateway.core.errors import InvalidState, NotFound, ValidationFailed
from gateway.core.settings import Settings
from gateway.core.tenancy import Owner
from gateway.idempotency.commands import KeyedRequest
from gateway.idempotency.fingerprint import request_fingerprint
from gateway.idempotency.keys import stored_key
from gateway.idempotency.store import KeyScope
from gateway.merchants.models import ApiKey
from gateway.merchants.scopes import parse_scopes
from gateway.merchants.service import IssuedKey, MerchantService
from gateway.payments.commands import PaymentCommands
from gateway.payments.models import Transaction
from gateway.payments.operations import Context
from gateway.payments.reconciliation.service import ReconciliationService
from gateway.payments.schemas import CancelIn, RefundIn
from gateway.webhooks.outbound.dependencies import endpoint_service
from gateway.webhooks.service import WebhookEventService

# The API paths whose fingerprints a console action shares: the same request
# made from the console and through the API is one request.
_REFUND_PATH = "/api/v1/payments/refund"
_CANCEL_PATH = "/api/v1/payments/cancel"
# Console keys live beside the API's in one namespace per merchant and mode;
# the prefix keeps an operator's key from ever equalling a merchant's own.
_KEY_PREFIX = "console:"


@dataclass(frozen=True)
class MoneyAnswer:
    """A money action's answer, as the API would have sent it."""

    status: int
    body: dict[str, Any]
    replayed: bool

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def message(self) -> str:
        if self.ok:
            body = self.body
            return f"{body.get('type', 'transaction')} {body.get('id')}: {body.get('status')}"
        return str(self.body.get("detail") or self.body.get("title") or f"HTTP {self.status}")


def operator_actor(operator: OperatorContext) -> Actor:
    return Actor(kind="operator", request_id=operator.request_id, ip_address=operator.ip_address)


class ConsoleActions:
    def __init__(self, session: AsyncSession, resources: Resources, settings: Settings) -> None:
        self.session = session
        self.resources = resources
        self.settings = settings
        self.queries = ConsoleQueries(session)
        self.operators = OperatorService(session, resources.clock)

    async def _payment(self, transaction_id: str) -> Transaction:
        transaction = await self.queries.payment(transaction_id)
        if transaction is None:
            raise NotFound(f"No transaction {transaction_id}.")
        return transaction

    async def _commands(
        self, transaction: Transaction, operator: OperatorContext
    ) -> PaymentCommands:
        merchant = await self.queries.merchant(transaction.merchant_id)
        payments = self.settings.payments
        max_amount = merchant.max_amount if merchant and merchant.max_amount else None
        return PaymentCommands(
            self.resources,
            self.settings,
            Context(
                owner=Owner(transaction.merchant_id, transaction.livemode),
                actor=operator_actor(operator),
                processor=self.resources.processors.for_key(transaction.livemode),
                crypto=self.resources.crypto,
                max_amount=max_amount or payments.max_amount,
                auth_expiry_days=payments.auth_expiry_days,
                refund_window_days=payments.refund_window_days,
            ),
        )

    def _keyed(self, transaction: Transaction, key: str, path: str, body: bytes) -> KeyedRequest:
        if not key or len(key) > 200:
            raise ValidationFailed.for_field("idempotency_key", "reload the page and try again")
        fingerprints = self.resources.crypto.fingerprints
        owner = Owner(transaction.merchant_id, transaction.livemode)
        return KeyedRequest(
            scope=KeyScope(
                merchant_id=transaction.merchant_id,
                livemode=transaction.livemode,
                key=stored_key(fingerprints, _KEY_PREFIX + key),
            ),
            fingerprint=request_fingerprint(fingerprints, owner, "POST", path, body),
        )

    async def refund(
        self,
        operator: OperatorContext,
        transaction_id: str,
        *,
        amount: int | None,
        reason: str | None,
        idempotency_key: str,
    ) -> MoneyAnswer:
        transaction = await self._payment(transaction_id)
        raw: dict[str, Any] = {"transaction_id": transaction.id}
        if amount is not None:
            raw["amount"] = amount
        if reason:
            raw["reason"] = reason
        try:
            body = msgspec.convert(raw, RefundIn)
        except msgspec.ValidationError as error:
            raise ValidationFailed(str(error)) from None
        keyed = self._keyed(transaction, idempotency_key, _REFUND_PATH, msgspec.json.encode(raw))
        commands = await self._commands(transaction, operator)
        outcome = await commands.existing(keyed) or await commands.refund(body, keyed)
        answer = _answer(outcome.response.status, outcome.response.body, outcome.replayed)
        await self._audit_money(operator, "console.payment.refund", transaction, answer)
        return answer

    async def void(
        self, operator: OperatorContext, transaction_id: str, *, idempotency_key: str
    ) -> MoneyAnswer:
        transaction = await self._payment(transaction_id)
        raw = {"transaction_id": transaction.id}
        body = msgspec.convert(raw, CancelIn)
        keyed = self._keyed(transaction, idempotency_key, _CANCEL_PATH, msgspec.json.encode(raw))
        commands = await self._commands(transaction, operator)
        outcome = await commands.existing(keyed) or await commands.cancel(body, keyed)
        answer = _answer(outcome.response.status, outcome.response.body, outcome.replayed)
        await self._audit_money(operator, "console.payment.void", transaction, answer)
        return answer

    async def reconcile(self, operator: OperatorContext, transaction_id: str) -> str:
        """One reconciliation look at a pending transaction now, as a pass takes."""
        transaction = await self.session.get(Transaction, transaction_id, with_for_update=True)
        if transaction is None:
            raise NotFound(f"No transaction {transaction_id}.")
        if transaction.status != "pending":
            raise InvalidState(f"{transaction_id} is {transaction.status}, not pending.")
        service = ReconciliationService(
            self.session,
            clock=self.resources.clock,
            processors=self.resources.processors,
            crypto=self.resources.crypto,
            settings=self.settings.payments,
            actor=operator_actor(operator),
        )
        await service.reconcile_one(transaction)
        await self.operators.record(
            operator,
            "console.payment.reconcile",
            object_type="transaction",
            object_id=transaction.id,
            merchant_id=transaction.merchant_id,
            livemode=transaction.livemode,
            details={"status": transaction.status},
        )
        return transaction.status

    async def replay_inbound(self, operator: OperatorContext, event_id: str) -> None:
        service = WebhookEventService(self.session, self.resources.clock)
        event = await service.get(None, event_id)
        # Read before the replay: its bulk update expires the loaded row.
        merchant_id, livemode, previous = event.merchant_id, event.livemode, event.status
        await service.replay_ids([event.id], operator_actor(operator))
        await self.operators.record(
            operator,
            "console.webhook_event.replay",
            object_type="webhook_event",
            object_id=event_id,
            merchant_id=merchant_id,
            livemode=livemode,
            details={"previous_status": previous},
        )

    async def retry_delivery(self, operator: OperatorContext, delivery_id: str) -> None:
        service = endpoint_service(self.session, self.resources, self.settings)
        delivery = await service.retry_delivery(None, delivery_id, operator_actor(operator))
        await self.operators.record(
            operator,
            "console.webhook_delivery.retry",
            object_type="webhook_delivery",
            object_id=delivery.id,
            merchant_id=delivery.merchant_id,
            livemode=delivery.livemode,
        )

    async def recover_endpoint(
        self, operator: OperatorContext, endpoint_id: str, since: datetime
    ) -> int:
        service = endpoint_service(self.session, self.resources, self.settings)
        endpoint = await service.get(None, endpoint_id)
        requeued = await service.recover(None, endpoint_id, operator_actor(operator), since=since)
        await self.operators.record(
            operator,
            "console.webhook_endpoint.recover",
            object_type="webhook_endpoint",
            object_id=endpoint.id,
            merchant_id=endpoint.merchant_id,
            livemode=endpoint.livemode,
            details={"recovered": len(requeued)},
        )
        return len(requeued)

    async def create_merchant(self, operator: OperatorContext, name: str) -> str:
        if not name.strip():
            raise ValidationFailed.for_field("name", "a merchant needs a name")
        merchant = await MerchantService(self.session, self.resources.clock).create_merchant(
            name.strip()
        )
        await self.operators.record(
            operator,
            "console.merchant.create",
            object_type="merchant",
            object_id=merchant.id,
            merchant_id=merchant.id,
        )
        return merchant.id

    async def create_key(
        self, operator: OperatorContext, merchant_id: str, scopes: str, *, livemode: bool
    ) -> IssuedKey:
        parsed = parse_scopes([scopes])
        issued = await MerchantService(self.session, self.resources.clock).create_key(
            merchant_id, parsed, livemode=livemode
        )
        await self.operators.record(
            operator,
            "console.api_key.create",
            object_type="api_key",
            object_id=issued.key.id,
            merchant_id=merchant_id,
            livemode=livemode,
            details={"scopes": issued.key.scopes},
        )
        return issued

    async def revoke_key(self, operator: OperatorContext, key_id: str) -> ApiKey:
        key = await MerchantService(self.session, self.resources.clock).revoke_key(key_id)
        await self.operators.record(
            operator,
            "console.api_key.revoke",
            object_type="api_key",
            object_id=key.id,
            merchant_id=key.merchant_id,
            livemode=key.livemode,
        )
        return key

    async def _audit_money(
        self, operator: OperatorContext, action: str, transaction: Transaction, answer: MoneyAnswer
    ) -> None:
        await self.operators.record(
            operator,
            action,
            object_type="transaction",
            object_id=transaction.id,
            merchant_id=transaction.merchant_id,
            livemode=transaction.livemode,
            details={
                "status": answer.status,
                "replayed": answer.replayed,
                "result_id": answer.body.get("id"),
                "code": answer.body.get("code"),
            },
        )


def _answer(status: int, body: bytes, replayed: bool) -> MoneyAnswer:
    decoded = msgspec.json.decode(body) if body else {}
    return MoneyAnswer(status, decoded if isinstance(decoded, dict) else {}, replayed)
