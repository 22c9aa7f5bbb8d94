"""Wire types of the subscriptions API (API.md "Subscriptions").

Request bodies decode strictly (core.schemas.RequestBody): no unknown fields,
no "1500" for 1500, times only with an offset.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from gateway.core.money import Amount, CurrencyCode
from gateway.core.openapi import one_of
from gateway.core.schemas import RequestBody
from gateway.payments.schemas import Metadata, ShortText
from gateway.subscriptions.billing.schedule import Interval
from gateway.subscriptions.states import AttemptStatus, InvoiceStatus, SubscriptionStatus
from gateway.vault.schemas import CustomerIn, CustomerOut

PaymentMethodId = Annotated[str, msgspec.Meta(pattern=r"^pm_[0-9A-Z]{16}$")]
TestClockId = Annotated[str, msgspec.Meta(pattern=r"^clock_[0-9A-Z]{16}$")]
AwareTime = Annotated[datetime, msgspec.Meta(tz=True, description="RFC 3339 with an offset.")]


class SubscriptionCustomerIn(CustomerIn):
    """A subscription's customer: the merchant's own id is required."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=20)]


class TokenIn(RequestBody):
    """A stored payment method of the same merchant and mode."""

    token: PaymentMethodId


class NewSubscription(RequestBody):
    """POST /subscriptions."""

    customer: SubscriptionCustomerIn
    amount: Amount
    currency: CurrencyCode
    interval: Interval
    payment_method: TokenIn
    plan_id: ShortText | None = None
    interval_count: Annotated[int, msgspec.Meta(ge=1, le=365)] = 1
    trial_days: Annotated[int, msgspec.Meta(ge=1, le=730)] | None = None
    start_date: AwareTime | None = None
    total_cycles: Annotated[int, msgspec.Meta(ge=1, le=9999)] | None = None
    metadata: Metadata | None = None
    test_clock_id: TestClockId | None = None


class SubscriptionUpdate(RequestBody):
    """PUT /subscriptions/{id}: `amount` and `plan_id` from the next period; the
    rest at once."""

    amount: Amount | None = None
    plan_id: ShortText | None = None
    payment_method: TokenIn | None = None
    metadata: Metadata | None = None
    pause: bool | None = None


class SubscriptionOut(msgspec.Struct, kw_only=True):
    id: str
    object: Literal["subscription"] = "subscription"
    livemode: bool
    status: Annotated[str, one_of(SubscriptionStatus)]
    customer: CustomerOut
    plan_id: str | None
    payment_method: str
    amount: int
    currency: str
    interval: Annotated[str, one_of(Interval)]
    interval_count: int
    current_period_start: datetime
    current_period_end: datetime
    next_billing_at: datetime | None
    trial_end: datetime | None
    cycles_billed: int
    total_cycles: int | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    failed_attempts: int
    metadata: dict[str, str]
    test_clock_id: str | None
    created_at: datetime


class SubscriptionList(msgspec.Struct):
    data: list[SubscriptionOut]
    next_cursor: str | None


class AttemptOut(msgspec.Struct, kw_only=True):
    id: str
    transaction_id: str | None
    status: Annotated[str, one_of(AttemptStatus)]
    decline_code: str | None
    attempted_at: datetime
    next_attempt_at: datetime | None


class InvoiceOut(msgspec.Struct, kw_only=True):
    id: str
    subscription_id: str
    period_start: datetime
    period_end: datetime
    amount: int
    currency: str
    status: Annotated[str, one_of(InvoiceStatus)]
    attempts: list[AttemptOut]


class InvoiceList(msgspec.Struct):
    data: list[InvoiceOut]
    next_cursor: str | None


class NewTestClock(RequestBody):
    """POST /test-clocks."""

    frozen_time: AwareTime


class TestClockAdvance(RequestBody):
    """POST /test-clocks/{id}/advance: a time after the clock's."""

    __test__ = False  # not a pytest class, whatever its name

    frozen_time: AwareTime


class TestClockOut(msgspec.Struct, kw_only=True):
    __test__ = False

    id: str
    object: Literal["test_clock"] = "test_clock"
    livemode: bool = False
    frozen_time: datetime
    status: Annotated[str, one_of(["ready"])]
    created_at: datetime
