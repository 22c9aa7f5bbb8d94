"""Which outcome a charge gets: the deterministic triggers of ANET.md §9 and the
sandbox tables of §3. Pure functions of what the request says; no I/O.

Precedence, first match wins: a script step (token charges), then the card's
expiry, then the amount trigger of the 4222222222222 class (only for the reason
codes it lists: any other amount falls through), then postal code 46282. AVS and
CVV results are worked out for every answered charge; CVV 901 declines with
reason 65 only when nothing above already decided.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Literal, get_args

from gateway.core.money import to_decimal
from gateway.processors.port import Outcome


class TriggerClass(StrEnum):
    """What a card number implies for the charges made with it (kept instead of it)."""

    STANDARD = "standard"
    REASON_BY_AMOUNT = "reason_by_amount"  # card 4222222222222: reason code = dollar amount


REASON_BY_AMOUNT_CARD: Final = "4222222222222"


def trigger_class_of(number: str) -> TriggerClass:
    if number == REASON_BY_AMOUNT_CARD:
        return TriggerClass.REASON_BY_AMOUNT
    return TriggerClass.STANDARD


class Delivery(StrEnum):
    """What happens to the answer of a decided charge."""

    ANSWERED = "answered"
    LOST_AFTER_RECORDING = "lost_after_recording"  # 901, script `timeout`
    LOST_UNRECORDED = "lost_unrecorded"  # 902
    NOT_SENT = "not_sent"  # 903


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason_code: str | None = None
    avs_result: str | None = None
    cvv_result: str | None = None
    delivery: Delivery = Delivery.ANSWERED


@dataclass(frozen=True)
class ChargeFacts:
    trigger_class: TriggerClass
    amount: int  # minor units
    currency: str  # supported (core.money): the amount trigger reads major units by exponent
    postal_code: str | None  # None: no billing address was sent
    cvv: str | None
    card_expired: bool


# ANET.md §3: billing zip -> AVS result code.
AVS_BY_POSTAL_CODE: Final = MappingProxyType(
    {
        "46201": "A",
        "46203": "E",
        "46204": "G",
        "46205": "N",
        "46206": "P",
        "46207": "R",
        "46208": "S",
        "46209": "U",
        "46211": "W",
        "46214": "X",
        "46217": "Z",
    }
)
DECLINING_POSTAL_CODE: Final = "46282"
# Partial authorization is not supported: these zips approve the whole amount.
PARTIAL_AUTH_POSTAL_CODES: Final = frozenset({"46225", "46226", "46227", "46228"})
# An address sent, no AVS trigger: street and 5-digit zip match.
AVS_MATCH: Final = "Y"
AVS_NOT_PROVIDED: Final = "B"
AVS_MISMATCH: Final = "N"

# ANET.md §3: cardCode -> CVV result code.
CVV_BY_CODE: Final = MappingProxyType({"900": "M", "901": "N", "902": "S", "903": "U", "904": "P"})
CVV_MATCH: Final = "M"
CVV_MISMATCH: Final = "N"
CVV_FILTER_REASON: Final = "65"

# Reason codes the 4222222222222 card produces by amount, by outcome class (ANET.md §9).
DECLINE_REASONS: Final = frozenset({2, 3, 4, 6, 7, 8, 27, 44, 45, 65})
ERROR_REASONS: Final = frozenset({*range(19, 24), *range(57, 64)})
HELD_REASONS: Final = frozenset({252, 253})
LOST_AFTER_RECORDING_AMOUNT: Final = 901
LOST_UNRECORDED_AMOUNT: Final = 902
NOT_SENT_AMOUNT: Final = 903
# Which results a filter decline reports as failed.
_AVS_DECLINES: Final = frozenset({27, 45})
_CVV_DECLINES: Final = frozenset({44, 45, 65})

GENERAL_DECLINE: Final = "2"
EXPIRED_CARD: Final = "8"

_ZIP = re.compile(r"\s*(\d{5})")


def postal_code_key(postal_code: str | None) -> str | None:
    """The 5-digit zip the triggers compare (ZIP+4 counts by its first five digits)."""
    if postal_code is None:
        return None
    match = _ZIP.match(postal_code)
    return match.group(1) if match else postal_code.strip()


def avs_result_for(postal_code: str | None) -> str:
    zip_code = postal_code_key(postal_code)
    if zip_code is None:
        return AVS_NOT_PROVIDED
    return AVS_BY_POSTAL_CODE.get(zip_code, AVS_MATCH)


def cvv_result_for(cvv: str | None) -> str | None:
    """None when no card code was sent: nothing was checked."""
    if cvv is None:
        return None
    return CVV_BY_CODE.get(cvv, CVV_MATCH)


def reason_by_amount(amount: int, currency: str) -> int | None:
    """N for an amount of exactly N.00 in major units (by the currency's exponent)."""
    major = to_decimal(amount, currency)
    if major != major.to_integral_value():
        return None
    return int(major)


def decide_charge(facts: ChargeFacts, *, cvv_filter: bool) -> Decision:
    avs = avs_result_for(facts.postal_code)
    cvv = cvv_result_for(facts.cvv)
    if facts.card_expired:
        return Decision(Outcome.DECLINED, EXPIRED_CARD, avs, cvv)
    if facts.trigger_class is TriggerClass.REASON_BY_AMOUNT:
        decided = _decide_by_amount(reason_by_amount(facts.amount, facts.currency), avs, cvv)
        if decided is not None:
            return decided
    if postal_code_key(facts.postal_code) == DECLINING_POSTAL_CODE:
        return Decision(Outcome.DECLINED, GENERAL_DECLINE, avs, cvv)
    if cvv == CVV_MISMATCH and cvv_filter:
        return Decision(Outcome.DECLINED, CVV_FILTER_REASON, avs, cvv)
    return Decision(Outcome.APPROVED, None, avs, cvv)


def _decide_by_amount(n: int | None, avs: str, cvv: str | None) -> Decision | None:
    if n is None:
        return None
    if n == LOST_AFTER_RECORDING_AMOUNT:
        return Decision(Outcome.APPROVED, None, avs, cvv, Delivery.LOST_AFTER_RECORDING)
    if n == LOST_UNRECORDED_AMOUNT:
        return Decision(Outcome.APPROVED, None, avs, cvv, Delivery.LOST_UNRECORDED)
    if n == NOT_SENT_AMOUNT:
        return Decision(Outcome.ERROR, None, None, None, Delivery.NOT_SENT)
    if n in DECLINE_REASONS:
        return Decision(
            Outcome.DECLINED,
            str(n),
            AVS_MISMATCH if n in _AVS_DECLINES else avs,
            CVV_MISMATCH if n in _CVV_DECLINES else cvv,
        )
    if n in ERROR_REASONS:
        return Decision(Outcome.ERROR, str(n))
    if n in HELD_REASONS:
        return Decision(Outcome.HELD, str(n), avs, cvv)
    return None


ScriptAction = Literal["approve", "decline", "timeout"]
SCRIPT_ACTIONS: Final[tuple[ScriptAction, ...]] = get_args(ScriptAction)


@dataclass(frozen=True)
class ScriptStep:
    """One queued outcome of `gateway simulator script`."""

    action: ScriptAction
    reason_code: str | None = None  # declines only; "2" unless `decline:N`

    def decide(self, *, postal_code: str | None, cvv: str | None) -> Decision:
        avs, cvv_result = avs_result_for(postal_code), cvv_result_for(cvv)
        if self.action == "decline":
            return Decision(Outcome.DECLINED, self.reason_code or GENERAL_DECLINE, avs, cvv_result)
        if self.action == "timeout":
            return Decision(Outcome.APPROVED, None, avs, cvv_result, Delivery.LOST_AFTER_RECORDING)
        return Decision(Outcome.APPROVED, None, avs, cvv_result)

    def __str__(self) -> str:
        return f"decline:{self.reason_code}" if self.reason_code else self.action


_STEP = re.compile(r"(?P<action>[a-z]+)(?::(?P<code>\d{1,3}))?")
_ACTIONS: Final[dict[str, ScriptAction]] = {action: action for action in SCRIPT_ACTIONS}


def script_step(action: str, reason_code: str | None = None) -> ScriptStep:
    """A stored step read back; ValueError for an action this version does not know."""
    known = _ACTIONS.get(action)
    if known is None:
        raise ValueError(f"unknown script action {action!r}")
    return ScriptStep(known, reason_code)


def parse_script(text: str) -> tuple[ScriptStep, ...]:
    """`approve,decline,decline:N,timeout,...`; ValueError names the bad item."""
    steps: list[ScriptStep] = []
    for raw in text.split(","):
        item = raw.strip()
        match = _STEP.fullmatch(item.lower())
        action = _ACTIONS.get(match.group("action")) if match else None
        code = match.group("code") if match else None
        if action is None or (code is not None and (action != "decline" or int(code) == 0)):
            raise ValueError(
                f"{item!r} is not one of approve, decline, decline:N (N from 1 to 999), timeout"
            )
        steps.append(ScriptStep(action, str(int(code)) if code is not None else None))
    return tuple(steps)


# Authorize.Net's texts for the reason codes the simulator produces.
_REASON_TEXTS: Final = MappingProxyType(
    {
        "2": "This transaction has been declined.",
        "3": "This transaction has been declined.",
        "4": "This transaction has been declined. The card should be picked up.",
        "5": "A valid amount is required.",
        "6": "The credit card number is invalid.",
        "7": "Credit card expiration date is invalid.",
        "8": "The credit card has expired.",
        "11": "A duplicate transaction has been submitted.",
        "16": "The transaction cannot be found.",
        "27": "The transaction has been declined because of an AVS mismatch.",
        "39": "The supplied currency code is not supported.",
        "44": "This transaction has been declined: card code mismatch.",
        "45": "This transaction has been declined: AVS and card code mismatch.",
        "47": "The amount requested for settlement cannot be greater than the original"
        " amount authorized.",
        "54": "The referenced transaction does not meet the criteria for issuing a credit.",
        "55": "The sum of credits against the referenced transaction would exceed original"
        " debit amount.",
        "65": "This transaction has been declined: card code mismatch.",
        "252": "Your order has been received. Thank you for your business!",
        "253": "Your order has been received. Thank you for your business!",
        "310": "This transaction has already been voided.",
        "311": "This transaction has already been captured.",
        "E00040": "The record cannot be found.",
    }
)


def reason_text(outcome: Outcome, reason_code: str | None) -> str | None:
    if reason_code is None:
        return None
    known = _REASON_TEXTS.get(reason_code)
    if known is not None:
        return known
    if outcome is Outcome.ERROR:
        return "An error occurred during processing. Please try again in 5 minutes."
    return "This transaction has been declined."
