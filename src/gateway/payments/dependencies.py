"""From the HTTP request to the payments domain: who asks, with which key."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency

from gateway.composition.resources import Resources
from gateway.core.settings import Settings
from gateway.merchants.auth import api_actor, provide_principal
from gateway.payments.commands import PaymentCommands
from gateway.payments.operations import Context
from gateway.payments.service import TransactionService


def payment_commands(request: Request[Any, Any, Any]) -> PaymentCommands:
    state: State = request.app.state
    resources: Resources = state.resources
    settings: Settings = state.settings
    principal = provide_principal(request)
    return PaymentCommands(
        resources,
        settings,
        Context(
            owner=principal.owner,
            actor=api_actor(request),
            processor=resources.processors.for_key(principal.livemode),
            crypto=resources.crypto,
            max_amount=principal.max_amount or settings.payments.max_amount,
            auth_expiry_days=settings.payments.auth_expiry_days,
            refund_window_days=settings.payments.refund_window_days,
        ),
    )


def provide_payment_commands(request: Request[Any, Any, Any]) -> PaymentCommands:
    return payment_commands(request)


def provide_transaction_service(
    db_session: NamedDependency[Any], state: State
) -> TransactionService:
    return TransactionService(db_session, state.resources.clock)
