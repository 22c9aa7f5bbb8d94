"""From the HTTP request to the outbound webhooks' service."""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.composition.resources import Resources
from gateway.core.settings import Settings
from gateway.webhooks.outbound.endpoints import Destinations, EndpointService


def endpoint_service(
    session: AsyncSession, resources: Resources, settings: Settings
) -> EndpointService:
    """The service on a session, as the API and the commands build it."""
    return EndpointService(
        session,
        resources.clock,
        resources.crypto,
        Destinations(production=settings.is_production, resolve=resources.resolver),
    )


def provide_endpoint_service(
    db_session: NamedDependency[AsyncSession], state: State
) -> EndpointService:
    return endpoint_service(db_session, state.resources, state.settings)
