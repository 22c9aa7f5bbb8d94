"""The booking's payment, as a state machine over the hold (models.HoldStatus).

`drive` moves one hold as far as it can go now. The request that made the hold
calls it, so does a verified webhook about its payment, and so does the sweep
for holds that lapsed or that nobody moved for a while (a crashed process, a
lost webhook, a gateway still reconciling). Any of them may run at once for the
same hold: every gateway call is idempotent (the same Idempotency-Key and body
on every attempt) and every local move checks, under the hold's row lock, that
the hold is still where the caller found it.

    held --card tokenized--> authorizing --201--> capturing --201--> confirmed
                              |  \\--202--> pending --reconciled--^ (or released)
                              \\--402/502--> released
    lapsed while held: expired; lapsed before capturing: voiding --void--> expired
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from booking.gateway import Answer, Gateway, TryLater, hold_key
from booking.ledger import HoldView, Ledger, now
from booking.models import FINAL, HoldStatus

_log = logging.getLogger("booking.flow")

# Passes of `drive` per call: more than the longest path (authorizing, capturing).
_MAX_STEPS = 6
# How long a buyer's request waits on a step another driver has in flight.
_SETTLE_S = 10.0
_IN_FLIGHT = frozenset({HoldStatus.AUTHORIZING, HoldStatus.CAPTURING})
# A hold still without a token after this long has no live request behind it: the
# request's own call to tokenize would have timed out (gateway.Gateway's timeout).
ABANDONED_AFTER = timedelta(seconds=45)
_WAITING = frozenset({"pending"})
_APPROVED = frozenset({"authorized"})
_CAPTURED = frozenset({"captured", "partially_refunded", "refunded"})


def die() -> None:
    """SIGKILL this process (fault injection): nothing after the call runs."""
    os.kill(os.getpid(), signal.SIGKILL)


class Booker:
    def __init__(
        self,
        ledger: Ledger,
        gateway: Gateway,
        *,
        hold_seconds: float,
        recovery_grace_s: float,
        fault: str | None = None,
        crash: Callable[[], None] = die,
    ) -> None:
        self._ledger = ledger
        self._gateway = gateway
        self._hold_seconds = hold_seconds
        self._grace_s = recovery_grace_s
        self._fault = fault
        self._crash = crash

    async def book(
        self, event_id: str, seats: int, card: dict[str, Any], *, amount: int | None
    ) -> HoldView:
        """Hold the seats, tokenize the card (it is never stored here), then drive
        the payment. Raises SoldOut or UnknownEvent before anything is charged."""
        hold = await self._ledger.take_seats(
            event_id, seats, hold_seconds=self._hold_seconds, amount=amount
        )
        try:
            answer = await self._gateway.tokenize(card, key=hold_key(hold.id, "card"))
        except TryLater as error:
            # The card is only in this request's memory: without a token no one can
            # pay this hold later, so its seats go back at once.
            moved = await self._ledger.move(
                hold.id, HoldStatus.HELD, HoldStatus.RELEASED, reason=f"gateway: {error}"
            )
            return moved or hold
        if answer.status != 201:
            moved = await self._ledger.move(
                hold.id, HoldStatus.HELD, HoldStatus.RELEASED, reason=_refusal(answer)
            )
            return moved or hold
        await self._ledger.move(
            hold.id,
            HoldStatus.HELD,
            HoldStatus.AUTHORIZING,
            payment_method_id=str(answer.body["id"]),
        )
        # A webhook or the sweep may be driving the same hold (its step's key then
        # answers 409 "in use" here): give it a moment, so the buyer hears the end.
        deadline = asyncio.get_running_loop().time() + _SETTLE_S
        current = await self.drive(hold.id)
        while current.status in _IN_FLIGHT and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.2)
            current = await self.drive(hold.id)
        return current

    async def drive(self, hold_id: str) -> HoldView:
        for _ in range(_MAX_STEPS):
            hold = await self._ledger.hold(hold_id)
            if hold is None:
                raise LookupError(hold_id)
            if hold.status in FINAL:
                return hold
            try:
                if not await self._step(hold):
                    return await self._current(hold_id)
            except TryLater as error:
                _log.info("hold %s waits: %s", hold_id, error)
                return await self._current(hold_id)
        return await self._current(hold_id)

    async def sweep(self) -> int:
        """Expiry and recovery: drive every hold that lapsed or went quiet."""
        due = await self._ledger.due(grace_s=self._grace_s)
        for hold_id in due:
            await self.drive(hold_id)
        return len(due)

    async def _current(self, hold_id: str) -> HoldView:
        hold = await self._ledger.hold(hold_id)
        assert hold is not None
        return hold

    async def _step(self, hold: HoldView) -> bool:
        """One move of the hold; False when it must wait for the gateway."""
        if hold.status is HoldStatus.HELD:
            # Only the sweep gets here. Once no request can still be tokenizing, the
            # one that held these seats died before that, and nobody else has the card.
            if not hold.lapsed and hold.updated_at > now() - ABANDONED_AFTER:
                return False
            to = HoldStatus.EXPIRED if hold.lapsed else HoldStatus.RELEASED
            await self._ledger.move(hold.id, hold.status, to, reason="abandoned before payment")
            return True
        if hold.status is HoldStatus.AUTHORIZING:
            return await self._authorize(hold)
        if hold.status is HoldStatus.PENDING:
            assert hold.authorization_id is not None
            answer = await self._gateway.payment(hold.authorization_id)
            return await self._follow(hold, str(answer.body.get("status")))
        if hold.status is HoldStatus.CAPTURING:
            return await self._capture(hold)
        return await self._void(hold)

    async def _authorize(self, hold: HoldView) -> bool:
        assert hold.payment_method_id is not None
        answer = await self._gateway.authorize(
            token=hold.payment_method_id,
            amount=hold.amount,
            currency=hold.currency,
            order_id=hold.id,
            key=hold_key(hold.id, "authorize"),
        )
        if self._fault == "after_authorize":
            self._crash()
        if answer.status in (201, 202):
            authorization_id = str(answer.body["id"])
            moved = await self._ledger.move(
                hold.id, hold.status, HoldStatus.PENDING, authorization_id=authorization_id
            )
            if moved is None:
                return True
            return await self._follow(moved, str(answer.body.get("status")))
        await self._ledger.move(hold.id, hold.status, HoldStatus.RELEASED, reason=_refusal(answer))
        return True

    async def _follow(self, hold: HoldView, payment_status: str) -> bool:
        """Act on the authorization's status, as the gateway now tells it."""
        if payment_status in _WAITING:
            if not hold.lapsed:
                return False
            # The gateway is still deciding: give the seats back now and void the
            # authorization if it turns out approved.
            await self._ledger.move(
                hold.id, hold.status, HoldStatus.VOIDING, reason="hold lapsed while pending"
            )
            return True
        if payment_status in _APPROVED or payment_status in _CAPTURED:
            if hold.lapsed and payment_status in _APPROVED:
                await self._ledger.move(
                    hold.id, hold.status, HoldStatus.VOIDING, reason="hold lapsed before capture"
                )
            else:
                # From here on the hold cannot lapse: the capture is retried with its
                # key until the gateway answers, and only then is anything released.
                await self._ledger.move(hold.id, hold.status, HoldStatus.CAPTURING)
            return True
        await self._ledger.move(
            hold.id, hold.status, HoldStatus.RELEASED, reason=f"payment {payment_status}"
        )
        return True

    async def _capture(self, hold: HoldView) -> bool:
        assert hold.authorization_id is not None
        answer = await self._gateway.capture(
            hold.authorization_id, key=hold_key(hold.id, "capture")
        )
        if self._fault == "after_capture":
            self._crash()
        if answer.status == 201:
            # Paid: consume the hold and write the booking in one transaction.
            await self._ledger.move(
                hold.id, hold.status, HoldStatus.CONFIRMED, capture_id=str(answer.body["id"])
            )
            return True
        # Refused for good (the authorization expired or was voided, or the
        # processor declined the capture): seats back, and whatever is left voided.
        await self._ledger.move(
            hold.id, hold.status, HoldStatus.VOIDING, reason=f"capture: {_refusal(answer)}"
        )
        return True

    async def _void(self, hold: HoldView) -> bool:
        if hold.authorization_id is None:
            await self._ledger.move(hold.id, hold.status, HoldStatus.EXPIRED)
            return True
        current = await self._gateway.payment(hold.authorization_id)
        status = str(current.body.get("status"))
        if status in _WAITING:
            return False
        if status in _APPROVED:
            answer = await self._gateway.cancel(
                hold.authorization_id, key=hold_key(hold.id, "void")
            )
            if answer.status != 200:
                _log.warning("hold %s: void refused: %s", hold.id, _refusal(answer))
                return False
        elif status in _CAPTURED:
            # Never by this service: it captures only in `capturing`. A person must look.
            _log.error("hold %s: authorization %s captured elsewhere", hold.id, status)
            return False
        await self._ledger.move(hold.id, hold.status, HoldStatus.EXPIRED)
        return True


def _refusal(answer: Answer) -> str:
    body = answer.body
    parts = [str(answer.status), str(body.get("code") or body.get("status") or "")]
    if body.get("decline_code"):
        parts.append(f"decline {body['decline_code']}")
    return " ".join(part for part in parts if part)
