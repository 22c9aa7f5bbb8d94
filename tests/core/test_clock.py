from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from gateway.core.clock import FrozenClock, SystemClock


def test_system_clock_is_utc_and_aware() -> None:
    now = SystemClock().now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)


def test_frozen_clock_moves_only_forward() -> None:
    start = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
    clock = FrozenClock(start)
    assert clock.now() == start
    assert clock.advance(timedelta(days=1)) == start + timedelta(days=1)
    assert clock.now() == start + timedelta(days=1)
    with pytest.raises(ValueError, match="never goes back"):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError, match="never goes back"):
        clock.set(start)


def test_frozen_clock_normalises_to_utc_and_rejects_naive_times() -> None:
    local = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert FrozenClock(local).now() == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone"):
        FrozenClock(datetime(2026, 3, 1, 12, 0))  # noqa: DTZ001 - the naive time is the point
