"""From the HTTP request to the vault."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.composition.resources import Resources
from gateway.merchants.auth import api_actor, provide_principal
from gateway.vault.commands import VaultCommands
from gateway.vault.service import PaymentMethodService


def vault_commands(request: Request[Any, Any, Any]) -> VaultCommands:
    resources: Resources = request.app.state.resources
    principal = provide_principal(request)
    return VaultCommands(
        resources,
        request.app.state.settings,
        owner=principal.owner,
        actor=api_actor(request),
        processor=resources.processors.for_key(principal.livemode),
    )


def provide_payment_method_service(
    db_session: NamedDependency[AsyncSession], state: State
) -> PaymentMethodService:
    resources: Resources = state.resources
    return PaymentMethodService(db_session, resources.clock, resources.crypto)
