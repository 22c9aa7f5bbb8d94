"""The retry schedule of deliveries and the give-up rule of endpoints (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.webhooks.outbound.schedule import (
    DEFAULT_SCHEDULE_S,
    DISABLE_AFTER,
    next_attempt_at,
    should_disable,
    total_span,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_the_default_schedule_spans_about_three_point_one_five_days() -> None:
    assert total_span() == timedelta(seconds=272_105)  # 3.15 days of delays...
    assert len(DEFAULT_SCHEDULE_S) == 9  # ...over nine retries after the first attempt


@pytest.mark.parametrize(("failed", "delay"), list(enumerate(DEFAULT_SCHEDULE_S, start=1)))
def test_each_retry_waits_its_delay(failed: int, delay: int) -> None:
    assert next_attempt_at(failed, failed_at=NOW) == NOW + timedelta(seconds=delay)


def test_after_the_last_delay_the_delivery_is_dead() -> None:
    assert next_attempt_at(len(DEFAULT_SCHEDULE_S) + 1, failed_at=NOW) is None


def test_jitter_moves_a_retry_by_at_most_a_tenth() -> None:
    early = next_attempt_at(2, failed_at=NOW, jitter=lambda: -5.0)
    late = next_attempt_at(2, failed_at=NOW, jitter=lambda: 1.0)
    assert early == NOW + timedelta(seconds=270)
    assert late == NOW + timedelta(seconds=330)


def test_retry_after_is_honoured_up_to_the_next_attempts_delay() -> None:
    # After the first failure the schedule says 5 s; the receiver asks for 120 s.
    assert next_attempt_at(1, failed_at=NOW, retry_after_s=120) == NOW + timedelta(seconds=120)
    # It cannot push the retry past the following attempt's delay (300 s).
    assert next_attempt_at(1, failed_at=NOW, retry_after_s=10_000) == NOW + timedelta(seconds=300)
    # Nor shorten the schedule.
    assert next_attempt_at(3, failed_at=NOW, retry_after_s=1) == NOW + timedelta(seconds=1800)


def test_a_retry_needs_a_failed_attempt() -> None:
    with pytest.raises(ValueError, match="at least one"):
        next_attempt_at(0, failed_at=NOW)


def test_a_fast_schedule_setting_is_followed_as_given() -> None:
    fast = (0.1, 0.2)
    assert next_attempt_at(2, failed_at=NOW, schedule=fast) == NOW + timedelta(seconds=0.2)
    assert next_attempt_at(3, failed_at=NOW, schedule=fast) is None


def test_an_endpoint_is_disabled_after_five_days_of_failures_without_a_success() -> None:
    since = NOW - DISABLE_AFTER
    assert should_disable(last_success_at=None, failing_since=since, now=NOW)
    assert should_disable(last_success_at=NOW - timedelta(days=9), failing_since=since, now=NOW)
    assert not should_disable(last_success_at=NOW - timedelta(days=1), failing_since=since, now=NOW)
    assert not should_disable(last_success_at=None, failing_since=NOW - timedelta(days=4), now=NOW)
    assert not should_disable(last_success_at=None, failing_since=None, now=NOW)
