"""Dunning rules (API.md "Subscriptions"): retries on the schedule after the due
date with a per-invoice jitter, hard declines stop at once, then the final action."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from gateway.core.crypto import Fingerprinter
from gateway.payments.models import Transaction
from gateway.payments.states import FailureKind
from gateway.subscriptions.billing.dunning import (
    HARD_DECLINE_CODES,
    DunningPolicy,
    Verdict,
    counts_toward_dunning,
    jitter,
)
from gateway.subscriptions.billing.outcomes import never_sent

DUE = datetime(2026, 3, 31, 9, 0, tzinfo=UTC)
POLICY = DunningPolicy(schedule_days=(1, 3, 5, 7), final_action="cancel")


def digest(text: str) -> str:
    return hmac.new(b"k" * 32, text.encode(), hashlib.sha256).hexdigest()


def test_retries_follow_the_schedule_after_the_due_date_plus_one_jitter() -> None:
    shift = jitter("inv_0000000000000001", digest)
    failed_at = DUE
    times = []
    for failures in (1, 2, 3, 4):
        failed_at = POLICY.retry_at(DUE, failed_at, failures, shift)
        times.append(failed_at)
    assert times == [DUE + timedelta(days=days) + shift for days in (1, 3, 5, 7)]


def test_a_retry_counts_from_the_failed_attempt_when_the_invoice_was_charged_late() -> None:
    """An invoice first charged two days late (a billing outage) is not retried at
    once and again at the next pass: each retry keeps the schedule's spacing from
    the attempt that failed, and never comes before the schedule from the due date."""
    shift = timedelta(minutes=17)
    late = DUE + timedelta(days=2)
    first_retry = POLICY.retry_at(DUE, late, 1, shift)
    assert first_retry == late + timedelta(days=1)
    second_retry = POLICY.retry_at(DUE, first_retry, 2, shift)
    assert second_retry == first_retry + timedelta(days=2)
    assert POLICY.retry_at(DUE, second_retry, 3, shift) == second_retry + timedelta(days=2)


def test_a_retry_made_a_little_late_keeps_the_schedules_gap() -> None:
    shift = timedelta(minutes=5)
    # The first retry ran an hour after its time (a slow tick).
    first_retry = DUE + timedelta(days=1, hours=1) + shift
    assert POLICY.retry_at(DUE, first_retry, 2, shift) == first_retry + timedelta(days=2)
    # An attempt made early (a manual `billing run --now`) waits for the schedule.
    assert POLICY.retry_at(DUE, DUE, 2, shift) == DUE + timedelta(days=3) + shift


def test_the_jitter_is_under_an_hour_stable_per_invoice_and_spread_across_invoices() -> None:
    shifts = [jitter(f"inv_{n:016d}", digest) for n in range(200)]
    assert all(timedelta(0) <= shift < timedelta(hours=1) for shift in shifts)
    assert jitter("inv_0000000000000007", digest) == shifts[7]
    assert len(set(shifts)) > 150, "invoices due at one moment are not retried at one moment"


def test_the_jitter_comes_from_the_deployments_keyed_hasher() -> None:
    one = Fingerprinter(b"a" * 32)
    other = Fingerprinter(b"b" * 32)
    ids = [f"inv_{n:016d}" for n in range(20)]
    mine = [jitter(i, lambda text: one.digest("dunning-jitter", text)) for i in ids]
    theirs = [jitter(i, lambda text: other.digest("dunning-jitter", text)) for i in ids]
    assert mine != theirs, "keyed: nobody can predict another deployment's retry times"


@pytest.mark.parametrize(
    ("failures", "code", "verdict"),
    [
        (1, "2", Verdict.RETRY),
        (4, "2", Verdict.RETRY),
        (5, "2", Verdict.FINAL),  # the fourth retry failed: the schedule is spent
        (1, None, Verdict.RETRY),  # a processor error or nothing to charge counts too
        (1, "4", Verdict.FINAL),
        (1, "6", Verdict.FINAL),
        (2, "7", Verdict.FINAL),
        (1, "8", Verdict.FINAL),
        (1, "27", Verdict.RETRY),
    ],
)
def test_hard_declines_stop_at_once_others_until_the_schedule_is_spent(
    failures: int, code: str | None, verdict: Verdict
) -> None:
    assert POLICY.verdict_after_failure(failures, code) is verdict


def test_hard_declines_are_the_card_being_gone() -> None:
    assert frozenset({"4", "6", "7", "8"}) == HARD_DECLINE_CODES


def test_no_retry_is_scheduled_past_the_schedule() -> None:
    with pytest.raises(ValueError, match="no retry"):
        POLICY.retry_at(DUE, DUE, 5, timedelta(0))


@pytest.mark.parametrize("kind", list(FailureKind))
def test_only_a_charge_the_processor_refused_counts_toward_dunning(kind: FailureKind) -> None:
    refused = kind in (FailureKind.DECLINED, FailureKind.PROCESSOR_ERROR)
    assert counts_toward_dunning(kind) is refused


@pytest.mark.parametrize(
    ("status", "kind", "postponed"),
    [
        ("failed", FailureKind.NOT_SENT, True),
        ("failed", FailureKind.NOT_FOUND_AT_PROCESSOR, True),
        ("failed", FailureKind.PROCESSOR_ERROR, False),
        ("declined", FailureKind.DECLINED, False),
    ],
)
def test_an_attempt_is_postponed_by_its_failure_kind_whatever_the_text(
    status: str, kind: FailureKind, postponed: bool
) -> None:
    """The text clients read may say anything: the kind decides."""
    purchase = Transaction(status=status, failure_kind=kind, decline_reason="any words at all")
    assert never_sent(purchase) is postponed


def test_a_failure_with_the_old_text_but_no_kind_is_not_taken_for_unsent() -> None:
    purchase = Transaction(
        status="failed", failure_kind=None, decline_reason="processor unavailable"
    )
    assert never_sent(purchase) is False
