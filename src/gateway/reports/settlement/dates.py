"""What a batch date means: a calendar day in the zone of the daily cut-off
(GATEWAY_SETTLEMENT_CUTOFF), as Authorize.Net dates a batch by its settlement
time in the account's zone.

Two windows follow from it. The batches of day D are those whose settlement
time falls on D there. The day's activity is what the batch closing at D's
cut-off takes: from the cut-off of the day before to D's (a capture at the
cut-off itself waits for the next batch, as the simulator settles it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# A window [start, end): aware UTC instants, the end excluded.
Window = tuple[datetime, datetime]


def parse_batch_date(text: str) -> date:
    """A YYYY-MM-DD date; ValueError, saying what is expected, otherwise."""
    try:
        if len(text) != len("YYYY-MM-DD"):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date of the form YYYY-MM-DD") from None


@dataclass(frozen=True)
class BatchDay:
    day: date
    cutoff: tuple[time, ZoneInfo]  # GATEWAY_SETTLEMENT_CUTOFF, parsed

    @property
    def zone(self) -> ZoneInfo:
        return self.cutoff[1]

    @property
    def batches(self) -> Window:
        """The day itself in the cut-off's zone (23 or 25 hours when the clocks change)."""
        return self._at(self.day, time()), self._at(self.day + timedelta(days=1), time())

    @property
    def activity(self) -> Window:
        """From the previous day's cut-off to this day's."""
        at = self.cutoff[0]
        return self._at(self.day - timedelta(days=1), at), self._at(self.day, at)

    def _at(self, day: date, at: time) -> datetime:
        return datetime.combine(day, at, tzinfo=self.zone).astimezone(UTC)


def within(moment: datetime, window: Window) -> bool:
    start, end = window
    return start <= moment < end
