"""The money rules of API.md "Payments", rule by rule, then under random operation sequences."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from gateway.core.errors import GatewayError, InvalidState, ValidationFailed
from gateway.core.problems import STATUS_BY_CODE
from gateway.payments.errors import (
    AmountExceedsCapturable,
    AmountExceedsRefundable,
    InvalidTransition,
)
from gateway.payments.rules import (
    InFlight,
    ParentState,
    RefundPlan,
    apply_approval,
    apply_cancel,
    apply_capture,
    apply_expiry,
    apply_refund,
    apply_settlement,
    apply_status,
    is_expired,
    parent_status_after_refund,
    plan_cancel,
    plan_capture,
    plan_refund,
    refundable,
)
from gateway.payments.states import (
    PARENT_TYPES,
    ChildStatus,
    ParentStatus,
    TransactionType,
    can_transition,
    ensure_transition,
    initial_status,
    is_terminal,
)

P = ParentStatus
T = TransactionType
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
WINDOW_DAYS = 120
NOTHING = InFlight()


def authorization(
    status: ParentStatus = P.AUTHORIZED,
    *,
    amount: int = 1000,
    captured: int = 0,
    refunded: int = 0,
    settled_at: datetime | None = None,
    expires_at: datetime | None = NOW + timedelta(days=30),
) -> ParentState:
    return ParentState(
        id="txn_auth",
        type=T.AUTHORIZATION,
        status=status,
        amount=amount,
        amount_captured=captured,
        amount_refunded=refunded,
        settled_at=settled_at,
        expires_at=expires_at,
    )


def purchase(
    status: ParentStatus = P.CAPTURED,
    *,
    amount: int = 1000,
    refunded: int = 0,
    settled_at: datetime | None = NOW - timedelta(days=1),
) -> ParentState:
    return ParentState(
        id="txn_purchase",
        type=T.PURCHASE,
        status=status,
        amount=amount,
        amount_captured=0 if status in {P.PENDING, P.DECLINED, P.FAILED} else amount,
        amount_refunded=refunded,
        settled_at=settled_at,
        expires_at=None,
    )


def refund(
    parent: ParentState, amount: int | None = None, in_flight: InFlight = NOTHING
) -> RefundPlan:
    return plan_refund(parent, amount, in_flight=in_flight, now=NOW, refund_window_days=WINDOW_DAYS)


# Errors


@pytest.mark.parametrize(
    ("error", "status"),
    [(InvalidTransition, 409), (AmountExceedsCapturable, 422), (AmountExceedsRefundable, 422)],
)
def test_payment_errors_carry_api_codes_and_the_transaction_id(
    error: type[InvalidTransition | AmountExceedsCapturable | AmountExceedsRefundable],
    status: int,
) -> None:
    assert STATUS_BY_CODE[error.code] == status
    assert error("why", transaction_id="txn_1").extra == {"transaction_id": "txn_1"}
    assert error("why").extra == {}
    assert issubclass(error, GatewayError)


def test_invalid_transition_is_an_invalid_state() -> None:
    assert issubclass(InvalidTransition, InvalidState)
    assert InvalidTransition.code == "invalid_state"


# Capture


def test_capture_only_an_unexpired_authorization() -> None:
    expires_at = NOW + timedelta(days=30)
    parent = authorization(expires_at=expires_at)
    just_before = expires_at - timedelta(microseconds=1)
    assert plan_capture(parent, None, in_flight=NOTHING, now=just_before) == 1000
    for at_or_after in (expires_at, expires_at + timedelta(days=1)):
        with pytest.raises(InvalidTransition, match="expired") as caught:
            plan_capture(parent, None, in_flight=NOTHING, now=at_or_after)
        assert caught.value.extra == {"transaction_id": "txn_auth"}


def test_capture_only_an_authorization() -> None:
    with pytest.raises(InvalidTransition, match="purchase"):
        plan_capture(purchase(settled_at=None), None, in_flight=NOTHING, now=NOW)


@pytest.mark.parametrize("status", [status for status in P if status is not P.AUTHORIZED])
def test_capture_only_an_authorized_authorization(status: ParentStatus) -> None:
    captured = 1000 if status in {P.CAPTURED, P.PARTIALLY_REFUNDED, P.REFUNDED} else 0
    refunded = {P.PARTIALLY_REFUNDED: 10, P.REFUNDED: 1000}.get(status, 0)
    parent = authorization(status, captured=captured, refunded=refunded)
    with pytest.raises(InvalidTransition, match=str(status)):
        plan_capture(parent, None, in_flight=NOTHING, now=NOW)


def test_capture_once_losers_of_a_race_get_invalid_state() -> None:
    with pytest.raises(InvalidTransition, match="already being captured"):
        plan_capture(authorization(), None, in_flight=InFlight(capture=True), now=NOW)
    with pytest.raises(InvalidTransition):
        plan_capture(authorization(P.CAPTURED, captured=400), 100, in_flight=NOTHING, now=NOW)


def test_capture_is_refused_while_a_cancel_is_in_flight() -> None:
    with pytest.raises(InvalidTransition, match="cancelled"):
        plan_capture(authorization(), None, in_flight=InFlight(void=True), now=NOW)


def test_capture_defaults_to_the_authorized_amount() -> None:
    assert plan_capture(authorization(amount=1234), None, in_flight=NOTHING, now=NOW) == 1234


def test_capture_at_most_the_authorized_amount() -> None:
    parent = authorization(amount=1000)
    assert plan_capture(parent, 1000, in_flight=NOTHING, now=NOW) == 1000
    assert plan_capture(parent, 1, in_flight=NOTHING, now=NOW) == 1
    with pytest.raises(AmountExceedsCapturable, match="1001") as caught:
        plan_capture(parent, 1001, in_flight=NOTHING, now=NOW)
    assert caught.value.extra == {"transaction_id": "txn_auth"}


@pytest.mark.parametrize("amount", [0, -1])
def test_capture_of_a_non_positive_amount_is_a_validation_error(amount: int) -> None:
    with pytest.raises(ValidationFailed) as caught:
        plan_capture(authorization(), amount, in_flight=NOTHING, now=NOW)
    assert caught.value.errors[0].field == "amount"


@pytest.mark.parametrize("amount", [10.0, True, "10"])
def test_amounts_are_never_floats_bools_or_strings(amount: object) -> None:
    with pytest.raises(ValidationFailed):
        plan_capture(authorization(), amount, in_flight=NOTHING, now=NOW)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        replace(authorization(), amount=amount)  # type: ignore[arg-type]


def test_state_rule_answers_before_amount_rule() -> None:
    expired = authorization(expires_at=NOW)
    with pytest.raises(InvalidTransition):
        plan_capture(expired, 10**6, in_flight=NOTHING, now=NOW)
    with pytest.raises(InvalidTransition):
        plan_capture(authorization(), 10**6, in_flight=InFlight(capture=True), now=NOW)
    with pytest.raises(InvalidTransition, match="not settled yet"):
        refund(purchase(settled_at=None), 10**6)
    long_settled = purchase(settled_at=NOW - timedelta(days=WINDOW_DAYS + 1))
    with pytest.raises(InvalidTransition):
        refund(long_settled, 10**6)
    with pytest.raises(InvalidTransition):
        refund(purchase(P.REFUNDED, refunded=1000), 1)


# Refund


@pytest.mark.parametrize(
    "parent",
    [
        purchase(P.PENDING),
        purchase(P.DECLINED),
        purchase(P.FAILED),
        purchase(P.VOIDED),
        purchase(P.REFUNDED, refunded=1000),
        purchase(P.REQUIRES_REVIEW),
        authorization(P.PENDING),
        authorization(P.AUTHORIZED),
        authorization(P.EXPIRED),
        authorization(P.VOIDED),
    ],
    ids=lambda parent: f"{parent.type}-{parent.status}",
)
def test_refund_only_a_captured_charge(parent: ParentState) -> None:
    with pytest.raises(InvalidTransition, match=str(parent.status)):
        refund(parent)


def test_refund_a_captured_authorization_up_to_what_was_captured() -> None:
    parent = authorization(P.CAPTURED, captured=600, settled_at=NOW - timedelta(days=1))
    assert refund(parent) == RefundPlan(amount=600, as_void=False)
    with pytest.raises(AmountExceedsRefundable):
        refund(parent, 601)


@pytest.mark.parametrize(
    "parent",
    [
        purchase(settled_at=None),
        authorization(P.CAPTURED, captured=600, settled_at=None),
    ],
    ids=["purchase", "captured-authorization"],
)
def test_full_refund_before_settlement_is_a_void(parent: ParentState) -> None:
    full = RefundPlan(amount=parent.amount_captured, as_void=True)
    assert refund(parent) == full
    assert refund(parent, parent.amount_captured) == full
    refunded = apply_refund(parent, full.amount)
    assert refunded.status is P.REFUNDED
    assert refunded.amount_refunded == parent.amount_captured


def test_partial_refund_before_settlement_is_invalid_state() -> None:
    with pytest.raises(InvalidTransition, match="not settled yet") as caught:
        refund(purchase(settled_at=None), 999)
    assert caught.value.extra == {"transaction_id": "txn_purchase"}


def test_second_full_refund_before_settlement_loses_with_amount_exceeds_refundable() -> None:
    parent = purchase(settled_at=None)
    with pytest.raises(AmountExceedsRefundable, match="nothing is left"):
        refund(parent, in_flight=InFlight(refund_amount=1000))


def test_refund_defaults_to_all_refundable() -> None:
    parent = purchase(P.PARTIALLY_REFUNDED, refunded=300)
    assert refund(parent, in_flight=InFlight(refund_amount=200)) == RefundPlan(500, as_void=False)


def test_partial_refunds_never_sum_past_the_captured_amount() -> None:
    parent = purchase(P.PARTIALLY_REFUNDED, refunded=700)
    assert refund(parent, 300) == RefundPlan(300, as_void=False)
    with pytest.raises(AmountExceedsRefundable, match="301 exceeds the 300"):
        refund(parent, 301)


def test_pending_refunds_reserve_their_amount() -> None:
    parent = purchase()
    reserved = InFlight(refund_amount=600)
    assert refundable(parent, reserved) == 400
    assert refund(parent, 400, reserved).amount == 400
    with pytest.raises(AmountExceedsRefundable, match="401 exceeds the 400"):
        refund(parent, 401, reserved)
    with pytest.raises(AmountExceedsRefundable, match="nothing is left"):
        refund(parent, in_flight=InFlight(refund_amount=1000))


def test_refund_window_after_settlement() -> None:
    settled_at = NOW - timedelta(days=WINDOW_DAYS)
    assert refund(purchase(settled_at=settled_at)).amount == 1000
    late = purchase(settled_at=settled_at - timedelta(microseconds=1))
    with pytest.raises(InvalidTransition, match="refund window"):
        refund(late)


def test_refund_is_refused_while_a_cancel_is_in_flight() -> None:
    with pytest.raises(InvalidTransition, match="cancelled"):
        refund(purchase(settled_at=None), in_flight=InFlight(void=True))


@pytest.mark.parametrize("amount", [0, -5])
def test_refund_of_a_non_positive_amount_is_a_validation_error(amount: int) -> None:
    with pytest.raises(ValidationFailed):
        refund(purchase(), amount)


# Cancel


@pytest.mark.parametrize(
    "parent",
    [
        authorization(),
        purchase(settled_at=None),
        authorization(P.CAPTURED, captured=500, settled_at=None),
    ],
    ids=["authorized", "unsettled-purchase", "unsettled-capture"],
)
def test_cancel_an_authorization_or_an_unsettled_purchase_or_capture(parent: ParentState) -> None:
    plan_cancel(parent, in_flight=NOTHING)
    assert apply_cancel(parent).status is P.VOIDED


@pytest.mark.parametrize(
    "parent",
    [
        purchase(),
        authorization(P.CAPTURED, captured=500, settled_at=NOW),
        purchase(P.PARTIALLY_REFUNDED, refunded=1),
        purchase(P.REFUNDED, refunded=1000),
        purchase(P.PENDING, settled_at=None),
        purchase(P.REQUIRES_REVIEW, settled_at=None),
        authorization(P.EXPIRED),
        authorization(P.VOIDED),
        authorization(P.DECLINED),
    ],
    ids=lambda parent: f"{parent.type}-{parent.status}-settled:{parent.settled_at is not None}",
)
def test_cancel_nothing_else(parent: ParentState) -> None:
    with pytest.raises(InvalidTransition):
        plan_cancel(parent, in_flight=NOTHING)


@pytest.mark.parametrize(
    "in_flight",
    [InFlight(capture=True), InFlight(void=True), InFlight(refund_amount=1)],
    ids=["capture", "void", "refund"],
)
def test_cancel_is_refused_while_a_child_is_in_flight(in_flight: InFlight) -> None:
    with pytest.raises(InvalidTransition, match="in flight"):
        plan_cancel(authorization(), in_flight=in_flight)


# What a success does to the parent


def test_approval_captures_a_purchase_in_full_and_authorizes_an_authorization() -> None:
    bought = apply_approval(purchase(P.PENDING, settled_at=None))
    assert (bought.status, bought.amount_captured) == (P.CAPTURED, 1000)
    held = apply_approval(authorization(P.PENDING))
    assert (held.status, held.amount_captured) == (P.AUTHORIZED, 0)


def test_capture_moves_an_authorization_to_captured_with_the_captured_amount() -> None:
    captured = apply_capture(authorization(), 400)
    assert (captured.status, captured.amount_captured, captured.amount) == (P.CAPTURED, 400, 1000)
    with pytest.raises(ValueError, match="does not hold"):
        apply_capture(authorization(), 1001)


def test_partial_refunds_then_the_rest_make_the_parent_refunded() -> None:
    parent = purchase()
    parent = apply_refund(parent, 100)
    assert (parent.status, parent.amount_refunded) == (P.PARTIALLY_REFUNDED, 100)
    parent = apply_refund(parent, 100)
    assert (parent.status, parent.amount_refunded) == (P.PARTIALLY_REFUNDED, 200)
    parent = apply_refund(parent, 800)
    assert (parent.status, parent.amount_refunded) == (P.REFUNDED, 1000)
    with pytest.raises(ValueError, match="exceed"):
        apply_refund(parent, 1)


def test_parent_status_after_refund_compares_with_the_captured_amount() -> None:
    parent = authorization(P.CAPTURED, captured=600, settled_at=NOW)
    assert parent_status_after_refund(parent, 599) is P.PARTIALLY_REFUNDED
    assert parent_status_after_refund(parent, 600) is P.REFUNDED
    with pytest.raises(ValueError, match="exceed"):
        parent_status_after_refund(parent, 601)


def test_cancel_keeps_the_amounts_as_history() -> None:
    voided = apply_cancel(purchase(settled_at=None))
    assert (voided.status, voided.amount_captured, voided.amount_refunded) == (P.VOIDED, 1000, 0)


def test_expiry_only_after_expires_at_and_with_nothing_in_flight() -> None:
    parent = authorization(expires_at=NOW)
    assert is_expired(parent, NOW)
    assert not is_expired(parent, NOW - timedelta(microseconds=1))
    assert apply_expiry(parent, in_flight=NOTHING, now=NOW).status is P.EXPIRED
    with pytest.raises(InvalidTransition, match="not expired"):
        apply_expiry(parent, in_flight=NOTHING, now=NOW - timedelta(seconds=1))
    with pytest.raises(InvalidTransition, match="in flight"):
        apply_expiry(parent, in_flight=InFlight(capture=True), now=NOW)
    with pytest.raises(InvalidTransition):
        apply_expiry(
            authorization(P.CAPTURED, captured=1, expires_at=NOW), in_flight=NOTHING, now=NOW
        )


def test_settlement_only_of_unsettled_captured_money() -> None:
    assert apply_settlement(purchase(settled_at=None), at=NOW).settled_at == NOW
    for parent in (purchase(), purchase(P.VOIDED, settled_at=None), authorization()):
        with pytest.raises(InvalidTransition, match="nothing to settle"):
            apply_settlement(parent, at=NOW)


def test_status_moves_without_money_are_only_declines_failures_and_review() -> None:
    assert apply_status(authorization(P.PENDING), P.DECLINED).status is P.DECLINED
    assert apply_status(purchase(), P.REQUIRES_REVIEW).status is P.REQUIRES_REVIEW
    with pytest.raises(InvalidTransition):
        apply_status(purchase(P.REFUNDED, refunded=1000), P.FAILED)
    with pytest.raises(ValueError, match="changes amounts"):
        apply_status(authorization(P.PENDING), P.AUTHORIZED)


def test_every_apply_checks_the_transition_table() -> None:
    with pytest.raises(InvalidTransition):
        apply_capture(purchase(settled_at=None), 10)
    with pytest.raises(InvalidTransition):
        apply_cancel(authorization(P.EXPIRED))
    with pytest.raises(InvalidTransition):
        apply_approval(authorization())


# Snapshots refuse corrupt data


@pytest.mark.parametrize(
    "changes",
    [
        {"amount": 0},
        {"amount_captured": -1},
        {"amount_refunded": 1},
        {"amount_captured": 1001},
        {"type": T.CAPTURE},
    ],
    ids=str,
)
def test_a_snapshot_refuses_amounts_out_of_order(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 -- each case has its own message
        replace(authorization(), **changes)  # type: ignore[arg-type]


def test_reservations_are_never_negative_nor_beyond_the_captured_amount() -> None:
    with pytest.raises(ValueError, match="at least 0"):
        InFlight(refund_amount=-1)
    with pytest.raises(ValueError, match="exceed"):
        refundable(purchase(), InFlight(refund_amount=1001))


# Properties


@settings(max_examples=200, deadline=None)
@given(
    captured=st.integers(1, 100),
    requests=st.lists(st.tuples(st.none() | st.integers(-2, 120), st.booleans()), max_size=20),
)
def test_invariant_no_sequence_refunds_more_than_captured(
    captured: int, requests: list[tuple[int | None, bool]]
) -> None:
    parent = purchase(amount=captured)
    pending: list[int] = []
    for amount, then_succeeds in requests:
        in_flight = InFlight(refund_amount=sum(pending))
        try:
            planned = refund(parent, amount, in_flight)
        except (AmountExceedsRefundable, InvalidTransition, ValidationFailed):
            continue
        pending.append(planned.amount)
        if then_succeeds:
            parent = apply_refund(parent, pending.pop(0))
        assert parent.amount_refunded + sum(pending) <= parent.amount_captured
    for amount in pending:
        parent = apply_refund(parent, amount)
    assert parent.amount_refunded <= parent.amount_captured


@settings(max_examples=200, deadline=None)
@given(amount=st.integers(1, 10**12), requested=st.none() | st.integers(-(10**12), 10**13))
def test_invariant_a_capture_plan_is_between_one_and_the_authorized_amount(
    amount: int, requested: int | None
) -> None:
    try:
        planned = plan_capture(authorization(amount=amount), requested, in_flight=NOTHING, now=NOW)
    except (AmountExceedsCapturable, ValidationFailed):
        assert requested is not None
        assert not 1 <= requested <= amount
    else:
        assert type(planned) is int
        assert 1 <= planned <= amount


# Small steps mostly, so that authorizations and refund windows usually stay open a while.
CLOCK_STEPS = st.sampled_from(
    [timedelta(seconds=1), timedelta(hours=1), timedelta(days=1), timedelta(days=29)] * 3
    + [timedelta(days=121)]
)
REFUNDABLE = {P.CAPTURED, P.PARTIALLY_REFUNDED}
CANCELLABLE = {P.AUTHORIZED, P.CAPTURED}
# Small amounts, so partial refunds soon add up to the whole.
AMOUNTS = st.integers(1, 20)
REQUESTED = st.none() | st.integers(-1, 25)
# Mostly approvals: a decline ends the story before any money moves.
PROCESSOR_ANSWERS = st.sampled_from([None] * 7 + [P.DECLINED, P.FAILED, P.REQUIRES_REVIEW])


class PaymentLifecycle(RuleBasedStateMachine):
    """One parent and its children, driven only through `rules` and `states`."""

    def __init__(self) -> None:
        super().__init__()
        self.now = NOW
        self.parent = authorization(P.PENDING)
        # Lists, not flags: a bug letting two requests through must show up as two.
        self.captures: list[int] = []
        self.refunds: list[tuple[int, bool]] = []
        self.voids = 0
        self.refunded_by_children = 0
        self.terminal: ParentStatus | None = None

    @property
    def in_flight(self) -> InFlight:
        return InFlight(
            capture=bool(self.captures),
            refund_amount=sum(amount for amount, _ in self.refunds),
            void=self.voids > 0,
        )

    def move(self, after: ParentState) -> None:
        before = self.parent
        assert not is_terminal(before.type, before.status)
        assert can_transition(before.type, before.status, after.status)
        assert after.id == before.id
        assert after.amount == before.amount
        self.parent = after

    def child_answers(self, type_: TransactionType, succeeded: bool) -> bool:
        outcome = ChildStatus.SUCCEEDED if succeeded else ChildStatus.DECLINED
        ensure_transition(type_, initial_status(type_), outcome)
        return succeeded

    @initialize(
        type_=st.sampled_from(sorted(PARENT_TYPES)),
        amount=AMOUNTS,
        answer=PROCESSOR_ANSWERS,
    )
    def open(self, type_: TransactionType, amount: int, answer: ParentStatus | None) -> None:
        self.parent = ParentState(
            id="txn_lifecycle",
            type=type_,
            status=P(initial_status(type_)),
            amount=amount,
            amount_captured=0,
            amount_refunded=0,
            settled_at=None,
            expires_at=self.now + timedelta(days=30) if type_ is T.AUTHORIZATION else None,
        )
        self.processor_answers(answer)

    @precondition(lambda self: self.parent.status is P.PENDING)
    @rule(outcome=PROCESSOR_ANSWERS)
    def processor_answers(self, outcome: ParentStatus | None) -> None:
        if outcome is None:
            self.move(apply_approval(self.parent))
        else:
            self.move(apply_status(self.parent, outcome))

    # Operations are tried where they may start; `operations_start_only_from_their_statuses`
    # checks every other status at every step instead of spending steps on refusals.
    @precondition(lambda self: self.parent.status is P.AUTHORIZED)
    @rule(amount=REQUESTED)
    def request_capture(self, amount: int | None) -> None:
        try:
            planned = plan_capture(self.parent, amount, in_flight=self.in_flight, now=self.now)
        except (InvalidTransition, AmountExceedsCapturable, ValidationFailed):
            return
        assert 1 <= planned <= self.parent.amount
        assert self.parent.expires_at is None or self.now < self.parent.expires_at
        self.captures.append(planned)

    @precondition(lambda self: self.captures)
    @rule(succeeded=st.booleans())
    def capture_answered(self, succeeded: bool) -> None:
        amount = self.captures.pop(0)
        if self.child_answers(T.CAPTURE, succeeded):
            self.move(apply_capture(self.parent, amount))

    @precondition(lambda self: self.parent.status in REFUNDABLE)
    @rule(data=st.data())
    def request_refund(self, data: st.DataObject) -> None:
        # Around what is left, so that partial refunds and their races are common.
        left = self.parent.amount_captured - self.parent.amount_refunded
        amount = data.draw(REQUESTED | st.integers(1, left + 1))
        try:
            planned = plan_refund(
                self.parent,
                amount,
                in_flight=self.in_flight,
                now=self.now,
                refund_window_days=WINDOW_DAYS,
            )
        except (InvalidTransition, AmountExceedsRefundable, ValidationFailed):
            return
        settled_at = self.parent.settled_at
        assert planned.as_void is (settled_at is None)
        assert settled_at is None or self.now <= settled_at + timedelta(days=WINDOW_DAYS)
        self.refunds.append((planned.amount, planned.as_void))

    @precondition(lambda self: self.refunds)
    @rule(data=st.data(), succeeded=st.booleans())
    def refund_answered(self, data: st.DataObject, succeeded: bool) -> None:
        index = data.draw(st.integers(0, len(self.refunds) - 1))
        amount, _ = self.refunds.pop(index)
        if self.child_answers(T.REFUND, succeeded):
            self.move(apply_refund(self.parent, amount))
            self.refunded_by_children += amount

    @precondition(lambda self: self.parent.status in CANCELLABLE)
    @rule()
    def request_cancel(self) -> None:
        try:
            plan_cancel(self.parent, in_flight=self.in_flight)
        except InvalidTransition:
            return
        self.voids += 1

    @precondition(lambda self: self.voids)
    @rule(succeeded=st.booleans())
    def cancel_answered(self, succeeded: bool) -> None:
        self.voids -= 1
        if self.child_answers(T.VOID, succeeded):
            self.move(apply_cancel(self.parent))

    # The processor cannot settle what a void in flight is cancelling.
    @precondition(
        lambda self: (
            self.parent.status is P.CAPTURED
            and not self.voids
            and not any(void for _, void in self.refunds)
        )
    )
    @rule()
    def settle(self) -> None:
        try:
            settled = apply_settlement(self.parent, at=self.now)
        except InvalidTransition:
            return
        assert settled.status is self.parent.status
        self.parent = settled

    @precondition(lambda self: self.parent.status is P.AUTHORIZED)
    @rule()
    def expire(self) -> None:
        try:
            self.move(apply_expiry(self.parent, in_flight=self.in_flight, now=self.now))
        except InvalidTransition:
            return

    @rule(step=CLOCK_STEPS)
    def clock_advances(self, step: timedelta) -> None:
        self.now += step

    @invariant()
    def no_amount_is_ever_negative(self) -> None:
        parent = self.parent
        amounts = [parent.amount_captured, parent.amount_refunded, self.in_flight.refund_amount]
        assert all(type(amount) is int and amount >= 0 for amount in amounts)
        assert all(amount > 0 for amount, _ in self.refunds)

    @invariant()
    def refunds_and_reservations_never_exceed_captured_nor_captured_the_amount(self) -> None:
        parent = self.parent
        reserved = self.in_flight.refund_amount
        assert parent.amount_refunded + reserved <= parent.amount_captured <= parent.amount
        assert parent.amount_refunded == self.refunded_by_children

    @invariant()
    def terminal_states_never_change_nor_start_anything(self) -> None:
        parent = self.parent
        if self.terminal is not None:
            assert parent.status is self.terminal
        if not is_terminal(parent.type, parent.status):
            return
        self.terminal = parent.status
        assert self.in_flight == NOTHING
        with pytest.raises(InvalidTransition):
            plan_capture(parent, None, in_flight=NOTHING, now=self.now)
        with pytest.raises(InvalidTransition):
            plan_refund(
                parent, None, in_flight=NOTHING, now=self.now, refund_window_days=WINDOW_DAYS
            )
        with pytest.raises(InvalidTransition):
            plan_cancel(parent, in_flight=NOTHING)

    @invariant()
    def operations_start_only_from_their_statuses(self) -> None:
        parent, now = self.parent, self.now
        if parent.status is not P.AUTHORIZED:
            with pytest.raises(InvalidTransition):
                plan_capture(parent, None, in_flight=NOTHING, now=now)
        if parent.status not in REFUNDABLE:
            with pytest.raises(InvalidTransition):
                plan_refund(parent, None, in_flight=NOTHING, now=now, refund_window_days=1)
        if parent.status not in CANCELLABLE:
            with pytest.raises(InvalidTransition):
                plan_cancel(parent, in_flight=NOTHING)

    @invariant()
    def status_agrees_with_the_amounts(self) -> None:
        parent = self.parent
        if parent.status in {P.PENDING, P.AUTHORIZED, P.DECLINED, P.FAILED, P.EXPIRED}:
            assert parent.amount_captured == 0
        if parent.type is T.PURCHASE and parent.amount_captured:
            assert parent.amount_captured == parent.amount
        if parent.status is P.CAPTURED:
            assert parent.amount_captured > 0
            assert parent.amount_refunded == 0
        if parent.status is P.PARTIALLY_REFUNDED:
            assert 0 < parent.amount_refunded < parent.amount_captured
        if parent.status is P.REFUNDED:
            assert parent.amount_refunded == parent.amount_captured > 0
        if parent.settled_at is not None:
            assert parent.status in {P.CAPTURED, P.PARTIALLY_REFUNDED, P.REFUNDED}


PaymentLifecycle.TestCase.settings = settings(
    max_examples=500, stateful_step_count=40, deadline=None
)
TestInvariantsHoldForEveryOperationSequence = PaymentLifecycle.TestCase
