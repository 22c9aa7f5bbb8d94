"""When a failed delivery is tried again, and when an endpoint is given up on
(issue 18 point 4, API.md "Webhooks / Outbound"). Pure: no clock, no database.

The first attempt goes out at once; after the n-th failed attempt the next one
waits the schedule's n-th delay (GATEWAY_WEBHOOK_DELIVERY_SCHEDULE_S, about 3.15
days in all), jittered by up to a tenth either way so that a receiver that was
down for everyone is not hit by every retry in the same second. A `Retry-After`
from the receiver is honoured, but never beyond the delay of the attempt after
this one: a receiver cannot push its deliveries past the schedule's end. After
the last delay's attempt fails, the delivery is dead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Final

DEFAULT_SCHEDULE_S: Final = (5, 300, 1800, 7200, 18000, 36000, 36000, 86400, 86400)
JITTER: Final = 0.1
# An endpoint whose deliveries kept failing with no success for this long is disabled.
DISABLE_AFTER: Final = timedelta(days=5)

# A number in [-1, 1], scaled by JITTER (random.uniform in production, fixed in tests).
Jitter = Callable[[], float]


def next_attempt_at(
    failed_attempts: int,
    *,
    failed_at: datetime,
    schedule: Sequence[float] = DEFAULT_SCHEDULE_S,
    retry_after_s: float | None = None,
    jitter: Jitter = lambda: 0.0,
) -> datetime | None:
    """When to try again after the `failed_attempts`-th attempt failed at
    `failed_at`; None: that was the last, the delivery is dead."""
    if failed_attempts < 1:
        raise ValueError("a retry follows at least one failed attempt")
    if failed_attempts > len(schedule):
        return None
    scheduled = schedule[failed_attempts - 1]
    delay = scheduled * (1 + JITTER * max(-1.0, min(1.0, jitter())))
    if retry_after_s is not None and retry_after_s > delay:
        bound = schedule[min(failed_attempts, len(schedule) - 1)]
        delay = min(retry_after_s, max(bound, scheduled))
    return failed_at + timedelta(seconds=delay)


def total_span(schedule: Sequence[float] = DEFAULT_SCHEDULE_S) -> timedelta:
    """From the first attempt to the last, without jitter."""
    return timedelta(seconds=sum(schedule))


def should_disable(
    *, last_success_at: datetime | None, failing_since: datetime | None, now: datetime
) -> bool:
    """An endpoint is disabled when its deliveries have kept failing for
    DISABLE_AFTER and nothing succeeded in that time."""
    if failing_since is None or now - failing_since < DISABLE_AFTER:
        return False
    return last_success_at is None or now - last_success_at >= DISABLE_AFTER
