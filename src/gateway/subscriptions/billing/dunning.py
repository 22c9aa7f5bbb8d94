"""Dunning: what a failed renewal leads to (API.md "Subscriptions"), as pure rules.

A failed attempt makes the invoice `past_due` and schedules the next one
GATEWAY_DUNNING_SCHEDULE_DAYS after the invoice's due date (default +1, +3, +5,
+7 days), but never sooner after the failed attempt than the schedule's own gap
between two retries (1, 2, 2, 2 days by default): an invoice first charged late
(a billing outage, a backlog) keeps its spacing instead of hitting the
customer's card at once and again at the next pass. The times of the schedule
are shifted by a jitter in [0, 1 h) derived from an HMAC of the invoice id,
so retries of many invoices due at one moment do not all hit the processor in
the same second, yet the same invoice always gets the same times.
A hard decline (the card is gone: reasons 4, 6, 7, 8) stops at once. After the
last retry fails, GATEWAY_DUNNING_FINAL_ACTION: cancel or pause.

Attempts that never reached the processor (breaker open, unreachable, or not
found there after reconciliation) are postponed, not failed: they count toward
nothing and are tried again shortly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Literal, assert_never

from gateway.payments.states import FailureKind

HARD_DECLINE_CODES: Final = frozenset({"4", "6", "7", "8"})
JITTER_SPAN: Final = timedelta(hours=1)
# How long a postponed attempt waits before it is requested again.
POSTPONE_DELAY: Final = timedelta(minutes=1)

FinalAction = Literal["cancel", "pause"]

# An HMAC of a text, as hex (the deployment's keyed hasher).
KeyedDigest = Callable[[str], str]


class Verdict(StrEnum):
    """What one attempt's outcome means for its invoice."""

    PAID = "paid"
    PENDING = "pending"  # unknown outcome or held for review: reconciliation decides
    POSTPONED = "postponed"  # never reached the processor: not counted
    RETRY = "retry"  # failed; another attempt is scheduled
    FINAL = "final"  # failed for good: hard decline, or the schedule is spent


def counts_toward_dunning(kind: FailureKind) -> bool:
    """Whether a failed charge counts as a failed attempt; one that never reached
    the processor (or that it never heard of) is postponed instead."""
    match kind:
        case FailureKind.DECLINED | FailureKind.PROCESSOR_ERROR:
            return True
        case FailureKind.NOT_SENT | FailureKind.NOT_FOUND_AT_PROCESSOR:
            return False
        case _:
            assert_never(kind)


def jitter(invoice_id: str, digest: KeyedDigest) -> timedelta:
    """A shift in [0, 1 h), the same for every retry of one invoice."""
    value = int(digest(invoice_id)[:12], 16)
    return timedelta(seconds=value % int(JITTER_SPAN.total_seconds()))


@dataclass(frozen=True)
class DunningPolicy:
    schedule_days: tuple[int, ...]
    final_action: FinalAction

    def verdict_after_failure(self, failed_attempts: int, decline_code: str | None) -> Verdict:
        """`failed_attempts` counts this failure too."""
        if decline_code in HARD_DECLINE_CODES:
            return Verdict.FINAL
        if failed_attempts > len(self.schedule_days):
            return Verdict.FINAL
        return Verdict.RETRY

    def retry_at(
        self, due_at: datetime, failed_at: datetime, failed_attempts: int, shift: timedelta
    ) -> datetime:
        """When to try again after the `failed_attempts`-th failure, made at
        `failed_at`, of an invoice due at `due_at` (only while
        `verdict_after_failure` says RETRY)."""
        if not 1 <= failed_attempts <= len(self.schedule_days):
            raise ValueError(f"no retry follows failure {failed_attempts}")
        days = self.schedule_days[failed_attempts - 1]
        previous = self.schedule_days[failed_attempts - 2] if failed_attempts > 1 else 0
        on_schedule = due_at + timedelta(days=days) + shift
        # An attempt made on time already carries the shift: adding it again
        # would drift every retry by another jitter.
        spaced = failed_at + timedelta(days=max(days - previous, 0))
        return max(on_schedule, spaced)
