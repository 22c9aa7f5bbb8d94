"""The backlogs (pending, requires review), the breakers, the queues and their
dead letters; subscriptions with their invoices and attempts."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.composition.resources import Resources
from gateway.console.operations import breakers, queues
from gateway.console.pages import Query, mode_of, page
from gateway.console.queries import ConsoleQueries
from gateway.core.errors import NotFound


class OperationsPages(Controller):
    path = "/console"

    @get("/operations", include_in_schema=False)
    async def operations(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        mode: Query = None,
    ) -> Template:
        shown = mode_of(mode)
        resources: Resources = request.app.state.resources
        queries = ConsoleQueries(db_session)
        return page(
            request,
            "operations.html",
            mode=shown,
            pending=await queries.backlog(shown == "live", "pending"),
            review=await queries.backlog(shown == "live", "requires_review"),
            counts=await queries.counts_by_status(shown == "live"),
            dead_inbound=await queries.inbound_events("dead", limit=20),
            breakers=await breakers(resources),
            queues=await queues(resources),
        )

    @get("/subscriptions", include_in_schema=False)
    async def subscriptions(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        mode: Query = None,
    ) -> Template:
        shown = mode_of(mode)
        rows = await ConsoleQueries(db_session).subscriptions(shown == "live")
        return page(request, "subscriptions.html", mode=shown, rows=rows)

    @get("/subscriptions/{subscription_id:str}", include_in_schema=False)
    async def subscription(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        subscription_id: FromPath[str],
    ) -> Template:
        queries = ConsoleQueries(db_session)
        subscription = await queries.subscription(subscription_id)
        if subscription is None:
            raise NotFound(f"No subscription {subscription_id}.")
        invoices = await queries.invoices(subscription)
        attempts = await queries.attempts([invoice.id for invoice in invoices])
        return page(
            request,
            "subscription.html",
            mode="live" if subscription.livemode else "test",
            sub=subscription,
            invoices=invoices,
            attempts=attempts,
        )
