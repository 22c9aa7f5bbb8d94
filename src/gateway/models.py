"""Every domain's models, imported so `Base.metadata` is complete (Alembic, tests)."""

from gateway.audit.models import AuditEntry, Event
from gateway.console.models import Operator
from gateway.core.db import Base
from gateway.idempotency.models import IdempotencyRecord
from gateway.merchants.models import ApiKey, Merchant
from gateway.payments.models import Transaction
from gateway.processors.simulator.models import (
    SimulatorBatch,
    SimulatorPaymentMethod,
    SimulatorRequest,
    SimulatorScriptStep,
    SimulatorTransaction,
    SimulatorWebhook,
)
from gateway.subscriptions.models import Invoice, InvoiceAttempt, Subscription, TestClock
from gateway.vault.models import PaymentMethod
from gateway.webhooks.models import WebhookEvent
from gateway.webhooks.outbound.models import (
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
)

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Base",
    "Event",
    "IdempotencyRecord",
    "Invoice",
    "InvoiceAttempt",
    "Merchant",
    "Operator",
    "PaymentMethod",
    "SimulatorBatch",
    "SimulatorPaymentMethod",
    "SimulatorRequest",
    "SimulatorScriptStep",
    "SimulatorTransaction",
    "SimulatorWebhook",
    "Subscription",
    "TestClock",
    "Transaction",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "WebhookEndpoint",
    "WebhookEvent",
]
