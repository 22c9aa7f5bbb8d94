"""Billing dates as pure arithmetic (API.md "Subscriptions"): no database, no clock.

A schedule is an anchor and a step (day, week, month or year, times a count).
Boundary `n` is always computed from the anchor, never from the boundary before
it, so a month-end anchor survives short months: Jan 31 → Feb 28 (29 in a leap
year) → Mar 31. The time of day is the anchor's. Everything is UTC, so daylight
saving time never moves a charge.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum


class Interval(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


# The longest step a plan may take: one year, whatever the unit.
MAX_COUNT = {Interval.DAY: 365, Interval.WEEK: 52, Interval.MONTH: 12, Interval.YEAR: 1}


def _months_later(anchor: datetime, months: int) -> datetime:
    """`months` calendar months after the anchor, on its day or the month's last."""
    month_index = anchor.month - 1 + months
    year, month = anchor.year + month_index // 12, month_index % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


@dataclass(frozen=True)
class Schedule:
    anchor: datetime
    interval: Interval
    count: int = 1

    def __post_init__(self) -> None:
        if self.anchor.tzinfo is None or self.anchor.utcoffset() != timedelta(0):
            raise ValueError("a schedule's anchor is a UTC time")
        if not 1 <= self.count <= MAX_COUNT[self.interval]:
            raise ValueError(f"a {self.interval} schedule steps 1 to {MAX_COUNT[self.interval]}")

    def boundary(self, n: int) -> datetime:
        """The `n`-th billing date (0: the anchor itself)."""
        if n < 0:
            raise ValueError("boundaries count from the anchor")
        steps = n * self.count
        if self.interval is Interval.DAY:
            return self.anchor + timedelta(days=steps)
        if self.interval is Interval.WEEK:
            return self.anchor + timedelta(weeks=steps)
        months = steps * 12 if self.interval is Interval.YEAR else steps
        return _months_later(self.anchor, months)

    def index_at(self, at: datetime) -> int:
        """The number of the last boundary at or before `at` (at the anchor or later)."""
        if at < self.anchor:
            raise ValueError("no boundary precedes the anchor")
        # A guess from the average step, corrected either way: never more than a
        # step or two off, whatever the month lengths in between.
        average = {
            Interval.DAY: timedelta(days=1),
            Interval.WEEK: timedelta(weeks=1),
            Interval.MONTH: timedelta(days=30.436875),
            Interval.YEAR: timedelta(days=365.2425),
        }[self.interval] * self.count
        n = max(int((at - self.anchor) / average), 0)
        while n > 0 and self.boundary(n) > at:
            n -= 1
        while self.boundary(n + 1) <= at:
            n += 1
        return n

    def next_after(self, at: datetime) -> datetime:
        """The first boundary strictly after `at`."""
        if at < self.anchor:
            return self.anchor
        return self.boundary(self.index_at(at) + 1)

    def period_containing(self, at: datetime) -> tuple[datetime, datetime]:
        """[start, end) of the period `at` falls in."""
        n = self.index_at(at)
        return self.boundary(n), self.boundary(n + 1)


def trial_end(start: datetime, trial_days: int) -> datetime:
    """A trial of whole days from `start`; the first charge falls then."""
    return start + timedelta(days=trial_days)


def resume_billing_at(schedule: Schedule, period_end: datetime, now: datetime) -> datetime:
    """When billing resumes after a pause: the end of the period already paid when
    it has not passed; otherwise the start of the period in progress (billed at
    once), so periods that went by entirely while paused are never billed."""
    if period_end > now:
        return period_end
    return schedule.period_containing(now)[0]


def utc(at: datetime) -> datetime:
    """The same instant in UTC (a wire time may carry any offset)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("a billing time must carry a timezone")
    return at.astimezone(UTC)
