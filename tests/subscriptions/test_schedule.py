"""Billing dates (API.md "Subscriptions"): anchor day and time of day kept, UTC,
trials, and the dates a pause resumes on. Pure arithmetic, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.subscriptions.billing.schedule import (
    Interval,
    Schedule,
    resume_billing_at,
    trial_end,
    utc,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (anchor, interval, count, the boundaries 0, 1, 2, ... that must follow)
TABLE = [
    pytest.param(
        "2026-01-31T09:30:00", Interval.MONTH, 1,
        ["2026-01-31T09:30:00", "2026-02-28T09:30:00", "2026-03-31T09:30:00",
         "2026-04-30T09:30:00", "2026-05-31T09:30:00"],
        id="month end: Jan 31, Feb 28, Mar 31, Apr 30",
    ),
    pytest.param(
        "2028-01-31T00:00:00", Interval.MONTH, 1,
        ["2028-01-31T00:00:00", "2028-02-29T00:00:00", "2028-03-31T00:00:00"],
        id="leap year: Feb 29",
    ),
    pytest.param(
        "2026-01-30T23:59:59", Interval.MONTH, 1,
        ["2026-01-30T23:59:59", "2026-02-28T23:59:59", "2026-03-30T23:59:59"],
        id="the 30th is kept after February",
    ),
    pytest.param(
        "2026-08-31T12:00:00", Interval.MONTH, 3,
        ["2026-08-31T12:00:00", "2026-11-30T12:00:00", "2027-02-28T12:00:00",
         "2027-05-31T12:00:00"],
        id="quarterly from a month end",
    ),
    pytest.param(
        "2026-11-15T08:00:00", Interval.MONTH, 1,
        ["2026-11-15T08:00:00", "2026-12-15T08:00:00", "2027-01-15T08:00:00"],
        id="across the new year",
    ),
    pytest.param(
        "2028-02-29T06:00:00", Interval.YEAR, 1,
        ["2028-02-29T06:00:00", "2029-02-28T06:00:00", "2030-02-28T06:00:00",
         "2031-02-28T06:00:00", "2032-02-29T06:00:00"],
        id="yearly from Feb 29 returns to it in the next leap year",
    ),
    pytest.param(
        "2026-03-01T10:00:00", Interval.WEEK, 1,
        ["2026-03-01T10:00:00", "2026-03-08T10:00:00", "2026-03-15T10:00:00",
         "2026-03-22T10:00:00", "2026-03-29T10:00:00", "2026-04-05T10:00:00"],
        id="weekly across the US and EU daylight saving changes",
    ),
    pytest.param(
        "2026-12-28T00:00:00", Interval.WEEK, 2,
        ["2026-12-28T00:00:00", "2027-01-11T00:00:00", "2027-01-25T00:00:00"],
        id="fortnightly across the new year",
    ),
    pytest.param(
        "2026-10-24T01:30:00", Interval.DAY, 1,
        ["2026-10-24T01:30:00", "2026-10-25T01:30:00", "2026-10-26T01:30:00"],
        id="daily over a DST change: always 24 h apart in UTC",
    ),
    pytest.param(
        "2028-02-27T00:00:00", Interval.DAY, 2,
        ["2028-02-27T00:00:00", "2028-02-29T00:00:00", "2028-03-02T00:00:00"],
        id="every other day through Feb 29",
    ),
    pytest.param(
        "2026-05-31T17:45:00", Interval.MONTH, 12,
        ["2026-05-31T17:45:00", "2027-05-31T17:45:00", "2028-05-31T17:45:00"],
        id="12 months is a year",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("anchor", "interval", "count", "expected"), TABLE)
def test_boundaries_keep_the_anchor_day_and_time(
    anchor: str, interval: Interval, count: int, expected: list[str]
) -> None:
    schedule = Schedule(at(anchor), interval, count)
    assert [schedule.boundary(n) for n in range(len(expected))] == [at(e) for e in expected]


@pytest.mark.parametrize(("anchor", "interval", "count", "expected"), TABLE)
def test_every_instant_falls_in_exactly_one_period(
    anchor: str, interval: Interval, count: int, expected: list[str]
) -> None:
    schedule = Schedule(at(anchor), interval, count)
    for n, start in enumerate(at(e) for e in expected[:-1]):
        end = at(expected[n + 1])
        for moment in (start, start + (end - start) / 2, end - timedelta(microseconds=1)):
            assert schedule.index_at(moment) == n
            assert schedule.period_containing(moment) == (start, end)
            assert schedule.next_after(moment) == end


def test_the_time_of_day_is_utc_whatever_the_local_clock_does() -> None:
    """A monthly charge at 09:00 UTC stays at 09:00 UTC: in New York that is 04:00 in
    winter and 05:00 in summer; the charge does not move with daylight saving."""
    schedule = Schedule(at("2026-01-15T09:00:00"), Interval.MONTH)
    new_york = ZoneInfo("America/New_York")
    local_hours = [schedule.boundary(n).astimezone(new_york).hour for n in range(6)]
    assert local_hours == [4, 4, 5, 5, 5, 5]
    assert {schedule.boundary(n).hour for n in range(24)} == {9}


def test_a_wire_time_with_an_offset_is_the_same_instant_in_utc() -> None:
    paris = datetime(2026, 3, 31, 2, 30, tzinfo=ZoneInfo("Europe/Paris"))
    assert utc(paris) == at("2026-03-31T00:30:00")
    with pytest.raises(ValueError, match="timezone"):
        utc(datetime(2026, 3, 31, 2, 30))  # noqa: DTZ001 - the mistake under test


def test_a_trial_is_whole_days_and_its_end_is_the_anchor() -> None:
    start = at("2026-01-31T10:00:00")
    ends = trial_end(start, 14)
    assert ends == at("2026-02-14T10:00:00")
    schedule = Schedule(ends, Interval.MONTH)
    assert [schedule.boundary(n) for n in range(3)] == [
        at("2026-02-14T10:00:00"), at("2026-03-14T10:00:00"), at("2026-04-14T10:00:00"),
    ]  # fmt: skip


def test_resuming_keeps_a_paid_period_and_never_bills_the_skipped_ones() -> None:
    schedule = Schedule(at("2026-01-31T00:00:00"), Interval.MONTH)
    paid_until = at("2026-02-28T00:00:00")
    # Resumed before the paid period ended: billing goes on at its end.
    assert resume_billing_at(schedule, paid_until, at("2026-02-10T00:00:00")) == paid_until
    # Resumed in April: March went by entirely while paused and is never billed;
    # the period in progress (from Mar 31) is billed at once.
    assert resume_billing_at(schedule, paid_until, at("2026-04-05T00:00:00")) == at(
        "2026-03-31T00:00:00"
    )


@pytest.mark.parametrize(
    ("interval", "count"),
    [(Interval.DAY, 366), (Interval.WEEK, 53), (Interval.MONTH, 13), (Interval.YEAR, 2),
     (Interval.MONTH, 0)],
)  # fmt: skip
def test_a_step_longer_than_a_year_or_empty_is_refused(interval: Interval, count: int) -> None:
    with pytest.raises(ValueError, match="schedule steps"):
        Schedule(at("2026-01-01T00:00:00"), interval, count)


def test_an_anchor_must_be_utc() -> None:
    with pytest.raises(ValueError, match="UTC"):
        Schedule(datetime(2026, 1, 1, tzinfo=ZoneInfo("Europe/Paris")), Interval.DAY)
    assert Schedule(at("2026-01-01T00:00:00"), Interval.DAY).next_after(
        at("2025-12-01T00:00:00")
    ) == at("2026-01-01T00:00:00")
