"""From the HTTP request to the webhooks domain."""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.webhooks.service import WebhookEventService


def provide_webhook_event_service(
    db_session: NamedDependency[AsyncSession], state: State
) -> WebhookEventService:
    return WebhookEventService(db_session, state.resources.clock)
