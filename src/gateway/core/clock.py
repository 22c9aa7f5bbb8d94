"""The one source of "now" for every decision that depends on time.

SQL `now()` bypasses it (and the test clocks), so code passes `clock.now()` into
queries as a parameter instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware in UTC."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that moves only when told to; for tests and simulated time."""

    def __init__(self, at: datetime) -> None:
        self._now = _require_aware(at)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a clock never goes back")
        self._now += delta
        return self._now

    def set(self, at: datetime) -> datetime:
        at = _require_aware(at)
        if at < self._now:
            raise ValueError("a clock never goes back")
        self._now = at
        return self._now


def _require_aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("a clock's time must carry a timezone")
    return at.astimezone(UTC)
