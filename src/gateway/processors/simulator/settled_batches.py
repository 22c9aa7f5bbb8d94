"""The window a settled-batch report may cover: Authorize.Net's getSettledBatchList
takes at most 31 days (ANET.md §4), and so does the simulator, so that a caller
that works here works there."""

from __future__ import annotations

from datetime import datetime

from gateway.processors.port import MAX_SETTLEMENT_WINDOW


def require_settlement_window(first: datetime, last: datetime) -> None:
    """Raise ValueError unless `first` to `last` is an aware window of at most 31 days."""
    if first.tzinfo is None or last.tzinfo is None:
        raise ValueError("a settlement window needs aware datetimes")
    if first > last:
        raise ValueError("a settlement window must not end before it starts")
    if last - first > MAX_SETTLEMENT_WINDOW:
        raise ValueError("a settlement window spans at most 31 days")
