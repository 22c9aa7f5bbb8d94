"""Every local transaction of the service: each function is one short database
transaction that takes the hold's row lock, checks that the hold is still where
the caller found it, and moves it with its seats. No lock is ever held while
the gateway is being called."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from booking.models import FINAL, HOLDING, Booking, Event, HoldStatus, SeatHold


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def now() -> datetime:
    return datetime.now(UTC)


class SoldOut(Exception):
    """Fewer seats are left than asked for."""


class UnknownEvent(Exception):
    """No such event."""


@dataclass(frozen=True)
class HoldView:
    """A hold as it stands after a transaction (detached from any session)."""

    id: str
    event_id: str
    seats: int
    amount: int
    currency: str
    status: HoldStatus
    reason: str | None
    payment_method_id: str | None
    authorization_id: str | None
    expires_at: datetime
    updated_at: datetime
    booking_id: str | None = None

    @property
    def lapsed(self) -> bool:
        return self.expires_at <= now()


def _view(hold: SeatHold, booking_id: str | None = None) -> HoldView:
    return HoldView(
        id=hold.id,
        event_id=hold.event_id,
        seats=hold.seats,
        amount=hold.amount,
        currency=hold.currency,
        status=HoldStatus(hold.status),
        reason=hold.reason,
        payment_method_id=hold.payment_method_id,
        authorization_id=hold.authorization_id,
        expires_at=hold.expires_at,
        updated_at=hold.updated_at,
        booking_id=booking_id,
    )


class Ledger:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    # Events

    async def create_event(
        self, name: str, seats: int, price: int, currency: str, *, event_id: str | None = None
    ) -> Event:
        event = Event(
            id=event_id or new_id("show"),
            name=name,
            seats_total=seats,
            seats_held=0,
            seats_sold=0,
            price=price,
            currency=currency,
        )
        async with self._sessions.begin() as session:
            await session.execute(
                insert(Event)
                .values(
                    id=event.id,
                    name=name,
                    seats_total=seats,
                    seats_held=0,
                    seats_sold=0,
                    price=price,
                    currency=currency,
                )
                .on_conflict_do_nothing(index_elements=["id"])
            )
        return event

    async def event(self, event_id: str) -> Event | None:
        async with self._sessions() as session:
            return await session.get(Event, event_id)

    async def events(self) -> Sequence[Event]:
        async with self._sessions() as session:
            return (await session.scalars(select(Event).order_by(Event.id))).all()

    # Holds

    async def take_seats(
        self, event_id: str, seats: int, *, hold_seconds: float, amount: int | None
    ) -> HoldView:
        """Hold `seats` for `hold_seconds`: one conditional UPDATE, so concurrent
        buyers of the last seat queue on the event's row and only one wins."""
        async with self._sessions.begin() as session:
            taken = await session.execute(
                update(Event)
                .where(
                    Event.id == event_id,
                    Event.seats_total - Event.seats_held - Event.seats_sold >= seats,
                )
                .values(seats_held=Event.seats_held + seats)
                .returning(Event.price, Event.currency)
            )
            row = taken.first()
            if row is None:
                if await session.get(Event, event_id) is None:
                    raise UnknownEvent(event_id)
                raise SoldOut(event_id)
            price, currency = row
            at = now()
            hold = SeatHold(
                id=new_id("hold"),
                event_id=event_id,
                seats=seats,
                amount=amount if amount is not None else price * seats,
                currency=currency,
                status=HoldStatus.HELD,
                expires_at=at + timedelta(seconds=hold_seconds),
                created_at=at,
                updated_at=at,
            )
            session.add(hold)
            await session.flush()
            return _view(hold)

    async def hold(self, hold_id: str) -> HoldView | None:
        async with self._sessions() as session:
            hold = await session.get(SeatHold, hold_id)
            if hold is None:
                return None
            booking = await session.scalar(select(Booking.id).where(Booking.hold_id == hold_id))
            return _view(hold, booking)

    async def hold_for_payment(self, order_id: str | None, transaction_id: str) -> str | None:
        """The hold a gateway transaction belongs to (its `order_id` is our hold id)."""
        async with self._sessions() as session:
            statement = select(SeatHold.id).where(
                or_(SeatHold.id == (order_id or ""), SeatHold.authorization_id == transaction_id)
            )
            return await session.scalar(statement.limit(1))

    async def due(self, *, grace_s: float, limit: int = 100) -> list[str]:
        """Unfinished holds that lapsed, or that nobody moved for `grace_s` (their
        process died, a webhook was lost, or the gateway is still deciding)."""
        at = now()
        async with self._sessions() as session:
            statement = (
                select(SeatHold.id)
                .where(
                    SeatHold.status.not_in(list(FINAL)),
                    or_(
                        SeatHold.expires_at <= at,
                        SeatHold.updated_at <= at - timedelta(seconds=grace_s),
                    ),
                )
                .order_by(SeatHold.updated_at)
                .limit(limit)
            )
            return list((await session.scalars(statement)).all())

    async def move(
        self,
        hold_id: str,
        expected: HoldStatus,
        to: HoldStatus,
        *,
        reason: str | None = None,
        payment_method_id: str | None = None,
        authorization_id: str | None = None,
        capture_id: str | None = None,
    ) -> HoldView | None:
        """Move a hold from `expected` to `to` in one transaction, with its seats:
        out of the holding statuses they go back on sale, into `confirmed` they are
        sold and the booking is written. None when the hold was no longer in
        `expected` (another worker moved it first)."""
        async with self._sessions.begin() as session:
            hold = await session.get(SeatHold, hold_id, with_for_update=True)
            if hold is None or hold.status != expected:
                return None
            booking_id: str | None = None
            if expected in HOLDING and to not in HOLDING:
                event = await session.get(Event, hold.event_id, with_for_update=True)
                assert event is not None
                event.seats_held -= hold.seats
                if to is HoldStatus.CONFIRMED:
                    event.seats_sold += hold.seats
            if to is HoldStatus.CONFIRMED:
                assert capture_id is not None
                assert hold.authorization_id is not None
                booking_id = new_id("bkg")
                session.add(
                    Booking(
                        id=booking_id,
                        hold_id=hold.id,
                        event_id=hold.event_id,
                        seats=hold.seats,
                        authorization_id=hold.authorization_id,
                        capture_id=capture_id,
                        amount=hold.amount,
                        currency=hold.currency,
                        created_at=now(),
                    )
                )
            hold.status = to
            hold.updated_at = now()
            if reason is not None:
                hold.reason = reason[:200]
            if payment_method_id is not None:
                hold.payment_method_id = payment_method_id
            if authorization_id is not None:
                hold.authorization_id = authorization_id
            await session.flush()
            return _view(hold, booking_id)
