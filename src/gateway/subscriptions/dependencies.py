"""From the HTTP request to the subscriptions domain."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.composition.resources import Resources
from gateway.core.settings import Settings
from gateway.merchants.auth import api_actor, provide_principal
from gateway.subscriptions.commands import SubscriptionCommands
from gateway.subscriptions.lifecycle import SubscriptionChanges
from gateway.subscriptions.service import SubscriptionService
from gateway.vault.service import PaymentMethodService


def _max_amount(request: Request[Any, Any, Any]) -> int:
    settings: Settings = request.app.state.settings
    return provide_principal(request).max_amount or settings.payments.max_amount


def subscription_commands(request: Request[Any, Any, Any]) -> SubscriptionCommands:
    resources: Resources = request.app.state.resources
    principal = provide_principal(request)
    return SubscriptionCommands(
        resources,
        request.app.state.settings,
        owner=principal.owner,
        actor=api_actor(request),
        processor=resources.processors.for_key(principal.livemode),
        max_amount=_max_amount(request),
    )


def provide_subscription_service(
    db_session: NamedDependency[AsyncSession], state: State
) -> SubscriptionService:
    resources: Resources = state.resources
    return SubscriptionService(db_session, resources.clock, resources.crypto)


def provide_subscription_changes(
    db_session: NamedDependency[AsyncSession], request: Request[Any, Any, Any]
) -> SubscriptionChanges:
    resources: Resources = request.app.state.resources
    return SubscriptionChanges(
        SubscriptionService(db_session, resources.clock, resources.crypto),
        PaymentMethodService(db_session, resources.clock, resources.crypto),
        max_amount=_max_amount(request),
    )
