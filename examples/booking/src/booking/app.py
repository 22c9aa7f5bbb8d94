"""The service's HTTP API (Litestar) and its lifespan: the schema, the gateway
webhook endpoint it registers, and the expiry-and-recovery loop.

POST /events          {name, seats, price, currency?}            -> 201 event
GET  /events[/{id}]                                               -> seats left
POST /bookings        {event_id, seats?, force? | card}           -> 201 confirmed,
                      202 still being decided, 402 declined, 409 sold out
GET  /bookings/{id}                                               -> the hold
POST /webhooks/gateway  the gateway's signed webhooks (Standard Webhooks)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from litestar import Litestar, Request, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.response import Response
from sqlalchemy.ext.asyncio import async_sessionmaker

from booking.database import create_schema, ensure_database, make_engine
from booking.flow import Booker
from booking.gateway import Gateway
from booking.ledger import HoldView, Ledger, SoldOut, UnknownEvent
from booking.models import HoldStatus
from booking.notifications import Notifications, WebhookRefused
from booking.settings import Settings

_log = logging.getLogger("booking.app")

# `force` picks the simulator's trigger (ANET.md §9) and overrides the price:
# the timeout trigger keys on the amount, $901.00 on card 4222222222222, and the
# decline on $2.00 (reason 2) on the same card.
VISA = "4111111111111111"
TRIGGER_CARD = "4222222222222"
FORCES: dict[str, tuple[str, int | None]] = {
    "success": (VISA, None),
    "failure": (TRIGGER_CARD, 200),
    "timeout": (TRIGGER_CARD, 90100),
}


class Card(msgspec.Struct, forbid_unknown_fields=True):
    number: str
    exp_month: int
    exp_year: int
    cvv: str


class NewEvent(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    seats: int
    price: int
    currency: str = "USD"


class NewBooking(msgspec.Struct, forbid_unknown_fields=True):
    event_id: str
    seats: int = 1
    force: Literal["success", "failure", "timeout"] | None = None
    card: Card | None = None


@dataclass
class Services:
    ledger: Ledger
    booker: Booker
    notifications: Notifications


def _problem(status: int, code: str, detail: str, **extra: Any) -> Response[dict[str, Any]]:
    return Response(
        {"status": status, "code": code, "detail": detail, **extra},
        status_code=status,
        media_type="application/problem+json",
    )


def _hold_body(hold: HoldView) -> dict[str, Any]:
    return {
        "id": hold.id,
        "event_id": hold.event_id,
        "seats": hold.seats,
        "amount": hold.amount,
        "currency": hold.currency,
        "status": hold.status.value,
        "reason": hold.reason,
        "authorization_id": hold.authorization_id,
        "booking_id": hold.booking_id,
        "expires_at": hold.expires_at.isoformat(),
    }


def _event_body(event: Any) -> dict[str, Any]:
    return {
        "id": event.id,
        "name": event.name,
        "seats_total": event.seats_total,
        "seats_held": event.seats_held,
        "seats_sold": event.seats_sold,
        "seats_available": event.seats_total - event.seats_held - event.seats_sold,
        "price": event.price,
        "currency": event.currency,
    }


@post("/events")
async def create_event(data: NewEvent, state: State) -> Response[dict[str, Any]]:
    if data.seats < 1 or data.price < 1:
        return _problem(400, "validation_error", "seats and price must be positive")
    services: Services = state.services
    event = await services.ledger.create_event(data.name, data.seats, data.price, data.currency)
    created = await services.ledger.event(event.id)
    return Response(_event_body(created), status_code=201)


@get("/events")
async def list_events(state: State) -> dict[str, Any]:
    services: Services = state.services
    return {"data": [_event_body(event) for event in await services.ledger.events()]}


@get("/events/{event_id:str}")
async def show_event(event_id: str, state: State) -> dict[str, Any]:
    services: Services = state.services
    event = await services.ledger.event(event_id)
    if event is None:
        raise NotFoundException(f"no event {event_id}")
    return _event_body(event)


@post("/bookings")
async def create_booking(data: NewBooking, state: State) -> Response[dict[str, Any]]:
    if data.seats < 1:
        return _problem(400, "validation_error", "seats must be positive")
    if data.force is not None:
        number, amount = FORCES[data.force]
        card = {"number": number, "exp_month": 12, "exp_year": 2030, "cvv": "123"}
    elif data.card is not None:
        card, amount = msgspec.structs.asdict(data.card), None
    else:
        return _problem(400, "validation_error", "give `force` or `card`")
    services: Services = state.services
    try:
        hold = await services.booker.book(data.event_id, data.seats, card, amount=amount)
    except UnknownEvent:
        return _problem(404, "not_found", f"no event {data.event_id}")
    except SoldOut:
        return _problem(409, "sold_out", "not enough seats left")
    body = _hold_body(hold)
    if hold.status is HoldStatus.CONFIRMED:
        return Response(body, status_code=201)
    if hold.status in (HoldStatus.RELEASED, HoldStatus.EXPIRED):
        return _problem(402, "payment_failed", hold.reason or "payment failed", booking=body)
    return Response(body, status_code=202)


@get("/bookings/{hold_id:str}")
async def show_booking(hold_id: str, state: State) -> dict[str, Any]:
    services: Services = state.services
    hold = await services.ledger.hold(hold_id)
    if hold is None:
        raise NotFoundException(f"no booking {hold_id}")
    return _hold_body(hold)


@post("/webhooks/gateway", status_code=204)
async def gateway_webhook(request: Request[Any, Any, State], state: State) -> Response[None]:
    services: Services = state.services
    body = await request.body()
    try:
        hold_id = await services.notifications.receive(body, dict(request.headers))
    except WebhookRefused as error:
        return Response(None, status_code=401 if error.unsigned else 400)
    # Answered at once; the hold is driven after the response (the webhook is only
    # a nudge: `drive` asks the gateway for the truth).
    task = BackgroundTask(services.booker.drive, hold_id) if hold_id else None
    return Response(None, status_code=204, background=task)


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


async def _sweep_forever(booker: Booker, interval_s: float) -> None:
    while True:
        try:
            await booker.sweep()
        except Exception:  # noqa: BLE001 - the loop must outlive one bad pass (logged)
            _log.exception("sweep failed")
        await asyncio.sleep(interval_s)


def create_app(settings: Settings) -> Litestar:
    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await ensure_database(settings.database_url)
        engine = make_engine(settings.database_url)
        gateway = Gateway(settings.gateway_url, settings.gateway_api_key)
        try:
            await create_schema(engine)
            sessions = async_sessionmaker(engine, expire_on_commit=False)
            ledger = Ledger(sessions)
            await ledger.create_event("Demo concert", 20, 4500, "USD", event_id="show_demo")
            notifications = Notifications(sessions, ledger)
            if settings.webhooks:
                await notifications.register(gateway, f"{settings.public_url}/webhooks/gateway")
            booker = Booker(
                ledger,
                gateway,
                hold_seconds=settings.hold_seconds,
                recovery_grace_s=settings.recovery_grace_s,
                fault=settings.fault,
            )
            app.state.services = Services(ledger, booker, notifications)
            # The first pass at start-up is the recovery of what a crash left.
            sweeper = asyncio.create_task(_sweep_forever(booker, settings.sweep_interval_s))
            try:
                yield
            finally:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
        finally:
            await gateway.aclose()
            await engine.dispose()

    return Litestar(
        route_handlers=[
            create_event,
            list_events,
            show_event,
            create_booking,
            show_booking,
            gateway_webhook,
            health,
        ],
        lifespan=[lifespan],
    )
