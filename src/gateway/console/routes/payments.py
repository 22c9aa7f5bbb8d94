"""Payments: search, one payment's story, and an admin's refund, void and reconcile."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.composition.resources import Resources
from gateway.console.actions import ConsoleActions, MoneyAnswer
from gateway.console.auth import ADMIN, provide_operator
from gateway.console.pages import (
    Query,
    day_start,
    flash_and_go,
    mode_of,
    new_form_key,
    optional_amount,
    page,
)
from gateway.console.processor_view import processor_view
from gateway.console.queries import ConsoleQueries, PaymentSearch
from gateway.console.service import OperatorService
from gateway.core.errors import GatewayError, NotFound
from gateway.core.personal import unseal
from gateway.core.settings import Settings
from gateway.payments.models import Transaction

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _actions(request: Request[Any, Any, Any], session: AsyncSession) -> ConsoleActions:
    resources: Resources = request.app.state.resources
    settings: Settings = request.app.state.settings
    return ConsoleActions(session, resources, settings)


class PaymentPages(Controller):
    path = "/console/payments"

    @get("/", include_in_schema=False)
    async def search(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        *,
        mode: Query = None,
        q: Query = None,
        last4: Query = None,
        status: Query = None,
        date_from: Query = None,
        date_to: Query = None,
    ) -> Template:
        shown = mode_of(mode)
        error = None
        rows: list[Transaction] = []
        try:
            search = PaymentSearch(
                livemode=shown == "live",
                text=q or None,
                last4=(last4 or "").strip() or None,
                status=status or None,
                created_gte=day_start(date_from, field="date_from"),
                created_lt=day_start(date_to, field="date_to", next_day=True),
            )
            rows = await ConsoleQueries(db_session).payments(search)
        except GatewayError as failure:
            error = failure.detail
        return page(
            request,
            "payments.html",
            mode=shown,
            rows=rows,
            error=error,
            filters={
                "q": q or "",
                "last4": last4 or "",
                "status": status or "",
                "date_from": date_from or "",
                "date_to": date_to or "",
            },
        )

    @get("/{transaction_id:str}", include_in_schema=False)
    async def detail(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        transaction_id: FromPath[str],
    ) -> Template:
        operator = provide_operator(request)
        resources: Resources = request.app.state.resources
        queries = ConsoleQueries(db_session)
        transaction = await queries.payment(transaction_id)
        if transaction is None:
            raise NotFound(f"No transaction {transaction_id}.")
        parent = await queries.payment(transaction.parent_id) if transaction.parent_id else None
        children = await queries.children(transaction)
        timeline = await queries.timeline(
            transaction.merchant_id, [transaction.id, *(child.id for child in children)]
        )
        merchant = await queries.merchant(transaction.merchant_id)
        personal = None
        if operator.is_admin:
            personal = unseal(transaction, resources.crypto, table=Transaction.__tablename__)
            await OperatorService(db_session, resources.clock).record(
                operator,
                "console.personal_data.view",
                object_type="transaction",
                object_id=transaction.id,
                merchant_id=transaction.merchant_id,
                livemode=transaction.livemode,
            )
        return page(
            request,
            "payment.html",
            mode="live" if transaction.livemode else "test",
            txn=transaction,
            parent=parent,
            children=children,
            timeline=timeline,
            merchant=merchant,
            personal=personal,
            processor=await processor_view(resources, transaction),
            form_key=new_form_key(),
        )

    @post("/{transaction_id:str}/refund", opt=ADMIN, include_in_schema=False, status_code=303)
    async def refund(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        transaction_id: FromPath[str],
        data: Form,
    ) -> Redirect:
        back = f"/console/payments/{transaction_id}"
        try:
            answer = await _actions(request, db_session).refund(
                provide_operator(request),
                transaction_id,
                amount=optional_amount(data.get("amount")),
                reason=(data.get("reason") or "").strip() or None,
                idempotency_key=data.get("idempotency_key", ""),
            )
        except GatewayError as error:
            return flash_and_go(request, error.detail, back, ok=False)
        return _told(request, "Refund", answer, back)

    @post("/{transaction_id:str}/void", opt=ADMIN, include_in_schema=False, status_code=303)
    async def void(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        transaction_id: FromPath[str],
        data: Form,
    ) -> Redirect:
        back = f"/console/payments/{transaction_id}"
        try:
            answer = await _actions(request, db_session).void(
                provide_operator(request),
                transaction_id,
                idempotency_key=data.get("idempotency_key", ""),
            )
        except GatewayError as error:
            return flash_and_go(request, error.detail, back, ok=False)
        return _told(request, "Void", answer, back)

    @post("/{transaction_id:str}/reconcile", opt=ADMIN, include_in_schema=False, status_code=303)
    async def reconcile(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        transaction_id: FromPath[str],
    ) -> Redirect:
        back = f"/console/payments/{transaction_id}"
        try:
            status = await _actions(request, db_session).reconcile(
                provide_operator(request), transaction_id
            )
        except GatewayError as error:
            return flash_and_go(request, error.detail, back, ok=False)
        return flash_and_go(request, f"Reconciled: now {status}", back)


def _told(request: Request[Any, Any, Any], action: str, answer: MoneyAnswer, back: str) -> Redirect:
    """A money action's answer as the flash message, a replay named as such."""
    note = " (the same request was made before: its first answer)" if answer.replayed else ""
    return flash_and_go(request, f"{action}: {answer.message}{note}", back, ok=answer.ok)
