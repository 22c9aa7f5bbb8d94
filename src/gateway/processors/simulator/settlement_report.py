"""What one settlement run of the simulator did (its daily batch)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SettlementReport:
    batch_id: str | None  # None when nothing settled
    cutoff: datetime | None  # None for `settle --now`
    settled_at: datetime
    settled: tuple[str, ...]  # processor transaction ids
    expired: tuple[str, ...]  # authorizations that expired in this run
