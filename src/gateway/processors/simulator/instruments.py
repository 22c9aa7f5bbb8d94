"""What a charge is paid with, as the simulator may keep it: brand, last 4,
expiry and the trigger class the number implied, never the number or the CVV
(DESIGN.md invariant 2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from gateway.core.card_numbers import detect_brand
from gateway.processors.port import Card, Outcome
from gateway.processors.simulator.models import SimulatorPaymentMethod
from gateway.processors.simulator.triggers import TriggerClass, trigger_class_of
from gateway.vault.cards import is_expired, number_error

INVALID_CARD_NUMBER: Final = "6"
INVALID_EXPIRY: Final = "7"
PROFILE_NOT_FOUND: Final = "E00040"


@dataclass(frozen=True)
class Refusal:
    """A call answered without a transaction id (Authorize.Net's transId "0")."""

    outcome: Outcome
    reason_code: str


@dataclass(frozen=True)
class Instrument:
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    trigger_class: TriggerClass
    expired: bool
    payment_method_id: int | None = None  # set for a token charge


def card_instrument(card: Card, *, now: datetime) -> Instrument | Refusal:
    if number_error(card.number) is not None:
        return Refusal(Outcome.DECLINED, INVALID_CARD_NUMBER)
    brand = detect_brand(card.number)
    assert brand is not None  # a number without an error has a brand
    # Only what the ledger's columns can hold is checked: the gateway has already
    # refused anything else with a field error.
    if not (1 <= card.exp_month <= 12 and 1 <= card.exp_year <= 9999):
        return Refusal(Outcome.DECLINED, INVALID_EXPIRY)
    return Instrument(
        brand=brand,
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        trigger_class=trigger_class_of(card.number),
        expired=is_expired(card.exp_month, card.exp_year, now=now),
    )


def stored_instrument(method: SimulatorPaymentMethod, *, now: datetime) -> Instrument | Refusal:
    if method.deleted_at is not None:
        return Refusal(Outcome.ERROR, PROFILE_NOT_FOUND)
    return Instrument(
        brand=method.card_brand,
        last4=method.card_last4,
        exp_month=method.exp_month,
        exp_year=method.exp_year,
        trigger_class=TriggerClass(method.trigger_class),
        expired=is_expired(method.exp_month, method.exp_year, now=now),
        payment_method_id=method.id,
    )
