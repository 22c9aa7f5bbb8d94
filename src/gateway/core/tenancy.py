"""Whose objects a call may see: one merchant in one mode (DESIGN.md invariant 6)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Owner:
    merchant_id: str
    livemode: bool
