"""The transition tables, checked pair by pair against tables written out here by hand."""

from __future__ import annotations

import pytest

from gateway.core.errors import InvalidState
from gateway.payments.errors import InvalidTransition
from gateway.payments.states import (
    CHILD_TRANSITIONS,
    CHILD_TYPES,
    PARENT_TRANSITIONS,
    PARENT_TYPES,
    ChildStatus,
    ParentStatus,
    Status,
    TransactionType,
    allowed_targets,
    approved_status,
    can_transition,
    ensure_transition,
    initial_status,
    is_terminal,
    parent_transitions,
    statuses,
)

T = TransactionType

# The expected moves, written independently of the code: "from": "to, to, ...".
EXPECTED_PURCHASE = {
    "pending": "captured declined failed requires_review",
    "captured": "partially_refunded refunded voided requires_review",
    "partially_refunded": "partially_refunded refunded requires_review",
    "requires_review": "captured voided refunded failed",
    "declined": "",
    "failed": "",
    "voided": "",
    "refunded": "",
}
EXPECTED_AUTHORIZATION = {
    "pending": "authorized declined failed requires_review",
    "authorized": "captured voided expired requires_review",
    "captured": "partially_refunded refunded voided requires_review",
    "partially_refunded": "partially_refunded refunded requires_review",
    "requires_review": "authorized captured voided refunded failed",
    "declined": "",
    "failed": "",
    "voided": "",
    "expired": "",
    "refunded": "",
}
EXPECTED_CHILD = {
    "pending": "succeeded declined failed",
    "succeeded": "",
    "declined": "",
    "failed": "",
}
EXPECTED: dict[TransactionType, dict[str, str]] = {
    T.PURCHASE: EXPECTED_PURCHASE,
    T.AUTHORIZATION: EXPECTED_AUTHORIZATION,
    T.CAPTURE: EXPECTED_CHILD,
    T.REFUND: EXPECTED_CHILD,
    T.VOID: EXPECTED_CHILD,
}
TERMINAL: dict[TransactionType, set[str]] = {
    T.PURCHASE: {"declined", "failed", "voided", "refunded"},
    T.AUTHORIZATION: {"declined", "failed", "voided", "expired", "refunded"},
    T.CAPTURE: {"succeeded", "declined", "failed"},
    T.REFUND: {"succeeded", "declined", "failed"},
    T.VOID: {"succeeded", "declined", "failed"},
}


def vocabulary(type_: TransactionType) -> list[Status]:
    return list(ParentStatus) if type_ in PARENT_TYPES else list(ChildStatus)


def as_status(type_: TransactionType, value: str) -> Status:
    return ParentStatus(value) if type_ in PARENT_TYPES else ChildStatus(value)


# Every status a type holds, times every status of its vocabulary as a target.
PAIRS = [
    pytest.param(type_, current, target, id=f"{type_}:{current}->{target}")
    for type_ in T
    for current in EXPECTED[type_]
    for target in vocabulary(type_)
]


@pytest.mark.parametrize(("type_", "current", "target"), PAIRS)
def test_every_pair_of_statuses_follows_the_expected_table(
    type_: TransactionType, current: str, target: Status
) -> None:
    allowed = target in EXPECTED[type_][current].split()
    source = as_status(type_, current)
    assert can_transition(type_, source, target) is allowed
    if allowed:
        ensure_transition(type_, source, target)
    else:
        with pytest.raises(InvalidTransition):
            ensure_transition(type_, source, target)


@pytest.mark.parametrize("type_", list(T))
def test_each_type_holds_exactly_the_expected_statuses(type_: TransactionType) -> None:
    assert {str(status) for status in statuses(type_)} == set(EXPECTED[type_])


@pytest.mark.parametrize(
    ("type_", "status"),
    [(type_, status) for type_ in T for status in EXPECTED[type_]],
)
def test_terminal_statuses_are_exactly_those_without_a_way_out(
    type_: TransactionType, status: str
) -> None:
    assert is_terminal(type_, as_status(type_, status)) is (status in TERMINAL[type_])


def test_parent_table_is_the_union_of_both_parent_types() -> None:
    for current, targets in PARENT_TRANSITIONS.items():
        union: set[ParentStatus] = set()
        for type_ in PARENT_TYPES:
            union |= parent_transitions(type_).get(current, frozenset())
        assert union == targets, current
    assert set(CHILD_TRANSITIONS) == set(ChildStatus)


def test_pending_to_pending_is_not_a_transition() -> None:
    for type_ in T:
        assert not can_transition(type_, initial_status(type_), initial_status(type_))


def test_another_partial_refund_is_a_self_transition() -> None:
    for type_ in PARENT_TYPES:
        ensure_transition(type_, ParentStatus.PARTIALLY_REFUNDED, ParentStatus.PARTIALLY_REFUNDED)


def test_a_purchase_is_never_authorized_nor_expired() -> None:
    for status in (ParentStatus.AUTHORIZED, ParentStatus.EXPIRED):
        with pytest.raises(ValueError, match="never"):
            allowed_targets(T.PURCHASE, status)
        with pytest.raises(InvalidTransition):
            ensure_transition(T.PURCHASE, ParentStatus.PENDING, status)


def test_an_authorization_is_captured_only_through_a_capture() -> None:
    assert not can_transition(T.AUTHORIZATION, ParentStatus.PENDING, ParentStatus.CAPTURED)
    assert can_transition(T.AUTHORIZATION, ParentStatus.AUTHORIZED, ParentStatus.CAPTURED)
    assert can_transition(T.PURCHASE, ParentStatus.PENDING, ParentStatus.CAPTURED)


def test_statuses_of_the_other_vocabulary_are_refused_as_bugs() -> None:
    # "pending" is the same string in both enums; "succeeded" exists only for children.
    with pytest.raises(ValueError, match="succeeded"):
        can_transition(T.PURCHASE, ParentStatus.PENDING, ChildStatus.SUCCEEDED)
    with pytest.raises(ValueError, match="captured"):
        can_transition(T.REFUND, ChildStatus.PENDING, ParentStatus.CAPTURED)
    with pytest.raises(ValueError, match="not a parent"):
        parent_transitions(T.CAPTURE)


def test_an_invalid_transition_names_both_states_and_the_transaction() -> None:
    with pytest.raises(InvalidTransition) as caught:
        ensure_transition(
            T.AUTHORIZATION, ParentStatus.VOIDED, ParentStatus.CAPTURED, transaction_id="txn_1"
        )
    error = caught.value
    assert isinstance(error, InvalidState)
    assert error.code == "invalid_state"
    assert "voided" in error.detail
    assert "captured" in error.detail
    assert error.extra == {"transaction_id": "txn_1"}


@pytest.mark.parametrize(
    ("type_", "initial", "approved"),
    [
        (T.PURCHASE, "pending", "captured"),
        (T.AUTHORIZATION, "pending", "authorized"),
        (T.CAPTURE, "pending", "succeeded"),
        (T.REFUND, "pending", "succeeded"),
        (T.VOID, "pending", "succeeded"),
    ],
)
def test_every_transaction_starts_pending_and_approval_depends_on_its_type(
    type_: TransactionType, initial: str, approved: str
) -> None:
    assert initial_status(type_) == initial
    assert approved_status(type_) == approved
    assert can_transition(type_, initial_status(type_), approved_status(type_))
    assert type(initial_status(type_)) is type(approved_status(type_))


def test_types_split_into_parents_and_children() -> None:
    assert {T.PURCHASE, T.AUTHORIZATION} == PARENT_TYPES
    assert {T.CAPTURE, T.REFUND, T.VOID} == CHILD_TYPES
