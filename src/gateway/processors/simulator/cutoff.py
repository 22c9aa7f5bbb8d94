"""The daily settlement cut-off (GATEWAY_SETTLEMENT_CUTOFF, e.g. 16:00 Pacific).

The cut-off is a local time in a named zone, so its UTC instant moves with
daylight saving time: 16:00 in Los Angeles is 00:00 UTC in winter, 23:00 in summer.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def last_cutoff(now: datetime, cutoff: tuple[time, ZoneInfo]) -> datetime:
    """The latest cut-off instant at or before `now`, in UTC."""
    at, zone = cutoff
    today = now.astimezone(zone).date()
    candidate = datetime.combine(today, at, tzinfo=zone)
    if candidate > now:
        candidate = datetime.combine(today - timedelta(days=1), at, tzinfo=zone)
    return candidate.astimezone(UTC)
