"""The order saga: reserve stock, charge, ship (and capture), or compensate.

    reserved --token--> charging --201--> charged --ship--> shipped --capture--> completed
                          |--202--> charge_pending --reconciled--^   (purchase: completed)
                          \\--402/502--> failed (stock back)
    charged --shipping fails--> compensating --refund | void--> compensated (stock back)

Each local move is one transaction under the order's row lock that checks the
order is still where the caller found it, and writes its log row. Each gateway
call is keyed `<order id>:<step>` with the same body every time, so `recover`
(after a crash, or on a loop) simply repeats the step the order is at: the
gateway answers a repeat from its store, never charging or refunding twice.
"""

from __future__ import annotations

import logging
import os
import signal
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from saga.gateway import Answer, Gateway, TryLater
from saga.models import FINAL, LogEntry, Order, OrderStatus, Product, Shipment

_log = logging.getLogger("saga")

# An order still without a token after this long has no live process behind it.
ABANDONED_AFTER = timedelta(seconds=45)
_MAX_STEPS = 8


class OutOfStock(Exception):
    pass


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def now() -> datetime:
    return datetime.now(UTC)


class Saga:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        gateway: Gateway,
        *,
        fault: str | None = None,
        crash: Callable[[], None] = die,
    ) -> None:
        self._sessions = sessions
        self._gateway = gateway
        self._fault = fault
        self._crash = crash

    async def stock(self, sku: str, quantity: int, price: int, currency: str = "USD") -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                insert(Product)
                .values(sku=sku, stock=quantity, price=price, currency=currency)
                .on_conflict_do_update(
                    index_elements=["sku"], set_={"stock": quantity, "price": price}
                )
            )

    async def place(
        self,
        sku: str,
        quantity: int,
        card: dict[str, Any],
        *,
        mode: str = "purchase",
        fail_shipping: bool = False,
    ) -> Order:
        order_id = f"ord_{uuid.uuid4().hex[:16]}"
        async with self._sessions.begin() as session:
            taken = await session.execute(
                update(Product)
                .where(Product.sku == sku, Product.stock >= quantity)
                .values(stock=Product.stock - quantity)
                .returning(Product.price, Product.currency)
            )
            row = taken.first()
            if row is None:
                raise OutOfStock(sku)
            session.add(
                Order(
                    id=order_id,
                    sku=sku,
                    quantity=quantity,
                    amount=row[0] * quantity,
                    currency=row[1],
                    mode=mode,
                    fail_shipping=fail_shipping,
                    status=OrderStatus.RESERVED,
                    updated_at=now(),
                )
            )
            await session.flush()
            session.add(LogEntry(order_id=order_id, step="reserve", detail=f"{quantity} {sku}"))
        try:
            answer = await self._gateway.send(
                "POST", "/payment-methods", {"card": card}, key=f"{order_id}:card"
            )
        except TryLater as error:
            await self._move(order_id, OrderStatus.RESERVED, OrderStatus.FAILED, str(error))
            return await self.order(order_id)
        if answer.status != 201:
            await self._move(order_id, OrderStatus.RESERVED, OrderStatus.FAILED, _said(answer))
            return await self.order(order_id)
        await self._move(
            order_id,
            OrderStatus.RESERVED,
            OrderStatus.CHARGING,
            "card tokenized",
            payment_method_id=str(answer.body["id"]),
        )
        return await self.drive(order_id)

    async def order(self, order_id: str) -> Order:
        async with self._sessions() as session:
            order = await session.get(Order, order_id)
            if order is None:
                raise LookupError(order_id)
            return order

    async def log(self, order_id: str) -> list[tuple[str, str]]:
        async with self._sessions() as session:
            statement = (
                select(LogEntry.step, LogEntry.detail)
                .where(LogEntry.order_id == order_id)
                .order_by(LogEntry.id)
            )
            return [(step, detail) for step, detail in (await session.execute(statement)).all()]

    async def recover(self) -> int:
        """Drive every unfinished order from the step it is at."""
        async with self._sessions() as session:
            statement = select(Order.id).where(Order.status.not_in(list(FINAL)))
            unfinished = list((await session.scalars(statement)).all())
        for order_id in unfinished:
            await self.drive(order_id)
        return len(unfinished)

    async def drive(self, order_id: str) -> Order:
        for _ in range(_MAX_STEPS):
            order = await self.order(order_id)
            if order.status in FINAL:
                return order
            try:
                if not await self._step(order):
                    break
            except TryLater as error:
                await self._note(order_id, "wait", str(error))
                break
        return await self.order(order_id)

    async def _step(self, order: Order) -> bool:
        status = OrderStatus(order.status)
        if status is OrderStatus.RESERVED:
            if order.updated_at > now() - ABANDONED_AFTER:
                return False
            return await self._move(order.id, status, OrderStatus.FAILED, "abandoned")
        if status is OrderStatus.CHARGING:
            return await self._charge(order)
        if status is OrderStatus.CHARGE_PENDING:
            assert order.payment_id is not None
            answer = await self._gateway.send("GET", f"/payments/{order.payment_id}")
            return await self._charged(order, status, answer.body)
        if status is OrderStatus.CHARGED:
            return await self._ship(order)
        if status is OrderStatus.SHIPPED:
            assert order.payment_id is not None
            answer = await self._gateway.send(
                "POST",
                "/payments/capture",
                {"transaction_id": order.payment_id},
                key=f"{order.id}:capture",
            )
            if answer.status != 201:
                await self._note(order.id, "capture", f"refused: {_said(answer)}; a person looks")
                return False
            return await self._move(
                order.id, status, OrderStatus.COMPLETED, _done("capture", answer)
            )
        return await self._compensate(order)

    async def _charge(self, order: Order) -> bool:
        body = {
            "amount": order.amount,
            "currency": order.currency,
            "payment_method": {"token": order.payment_method_id},
            "order_id": order.id,
        }
        path = "/payments/purchase" if order.mode == "purchase" else "/payments/authorize"
        answer = await self._gateway.send("POST", path, body, key=f"{order.id}:charge")
        if self._fault == "after_charge":
            self._crash()
        if answer.status in (201, 202):
            return await self._charged(order, OrderStatus.CHARGING, answer.body, answer)
        return await self._fail(order, OrderStatus.CHARGING, _said(answer))

    async def _charged(
        self,
        order: Order,
        expected: OrderStatus,
        payment: dict[str, Any],
        answer: Answer | None = None,
    ) -> bool:
        status, payment_id = str(payment.get("status")), str(payment.get("id"))
        detail = _done("charge", answer) if answer else f"reconciled: {status}"
        if status == "pending":
            if expected is OrderStatus.CHARGE_PENDING:
                return False  # still deciding: the recovery loop asks again
            return await self._move(
                order.id, expected, OrderStatus.CHARGE_PENDING, detail, payment_id=payment_id
            )
        if status in ("captured", "authorized"):
            return await self._move(
                order.id, expected, OrderStatus.CHARGED, detail, payment_id=payment_id
            )
        return await self._fail(order, expected, f"payment {status}")

    async def _ship(self, order: Order) -> bool:
        if order.fail_shipping:
            return await self._move(
                order.id, OrderStatus.CHARGED, OrderStatus.COMPENSATING, "shipping failed"
            )
        to = OrderStatus.COMPLETED if order.mode == "purchase" else OrderStatus.SHIPPED
        async with self._sessions.begin() as session:
            # The carrier's booking is keyed by the order too: shipping twice is once.
            await session.execute(
                insert(Shipment)
                .values(order_id=order.id, tracking=f"TRK{order.id[-10:].upper()}")
                .on_conflict_do_nothing(index_elements=["order_id"])
            )
            moved = await self._transition(session, order.id, OrderStatus.CHARGED, to, "shipped")
        if self._fault == "after_ship":
            self._crash()
        return moved

    async def _compensate(self, order: Order) -> bool:
        assert order.payment_id is not None
        if order.mode == "purchase":
            step, fault = "refund", "after_refund"
            answer = await self._gateway.send(
                "POST",
                "/payments/refund",
                {"transaction_id": order.payment_id, "reason": "could not ship"},
                key=f"{order.id}:refund",
            )
            ok = answer.status == 201
        else:
            step, fault = "void", "after_void"
            answer = await self._gateway.send(
                "POST",
                "/payments/cancel",
                {"transaction_id": order.payment_id},
                key=f"{order.id}:void",
            )
            ok = answer.status == 200
        if self._fault == fault:
            self._crash()
        if not ok:
            await self._note(order.id, step, f"refused: {_said(answer)}; a person looks")
            return False
        return await self._fail(
            order, OrderStatus.COMPENSATING, _done(step, answer), to=OrderStatus.COMPENSATED
        )

    async def _fail(
        self,
        order: Order,
        expected: OrderStatus,
        detail: str,
        *,
        to: OrderStatus = OrderStatus.FAILED,
    ) -> bool:
        """Give the stock back and end the order, in one transaction."""
        async with self._sessions.begin() as session:
            moved = await self._transition(session, order.id, expected, to, detail)
            if moved:
                await session.execute(
                    update(Product)
                    .where(Product.sku == order.sku)
                    .values(stock=Product.stock + order.quantity)
                )
                session.add(LogEntry(order_id=order.id, step="restock", detail=str(order.quantity)))
            return moved

    async def _move(
        self,
        order_id: str,
        expected: OrderStatus,
        to: OrderStatus,
        detail: str,
        *,
        payment_method_id: str | None = None,
        payment_id: str | None = None,
    ) -> bool:
        async with self._sessions.begin() as session:
            moved = await self._transition(session, order_id, expected, to, detail)
            if moved and (payment_method_id or payment_id):
                order = await session.get(Order, order_id)
                assert order is not None
                order.payment_method_id = payment_method_id or order.payment_method_id
                order.payment_id = payment_id or order.payment_id
            return moved

    @staticmethod
    async def _transition(
        session: AsyncSession, order_id: str, expected: OrderStatus, to: OrderStatus, detail: str
    ) -> bool:
        order = await session.get(Order, order_id, with_for_update=True)
        if order is None or order.status != expected:
            return False
        order.status = to
        order.updated_at = now()
        if to in (OrderStatus.FAILED, OrderStatus.COMPENSATING):
            order.reason = detail[:200]
        session.add(LogEntry(order_id=order_id, step=to.value, detail=detail[:300]))
        return True

    async def _note(self, order_id: str, step: str, detail: str) -> None:
        _log.info("order %s: %s: %s", order_id, step, detail)
        async with self._sessions.begin() as session:
            session.add(LogEntry(order_id=order_id, step=step, detail=detail[:300]))


def _said(answer: Answer) -> str:
    body = answer.body
    code = body.get("decline_code") or body.get("code") or body.get("status")
    return f"{answer.status} {code}"


def _done(step: str, answer: Answer | None) -> str:
    if answer is None:
        return step
    replayed = " (replayed: the gateway's stored answer)" if answer.replayed else ""
    return f"{step} {answer.body.get('id')} {answer.body.get('status')}{replayed}"
