"""What the simulator reads from the settings, in one frozen value."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from gateway.core.settings import Settings, parse_cutoff
from gateway.processors.simulator.webhooks import webhook_url

# Authorize.Net's default duplicateWindow (ANET.md §2). Not a setting: the gateway
# never sends transactionSettings, so the sandbox would use its default too.
DUPLICATE_WINDOW: Final = timedelta(seconds=120)

_DEFAULT_CUTOFF: Final = "16:00 America/Los_Angeles"


@dataclass(frozen=True)
class SimulatorConfig:
    auth_expiry: timedelta = timedelta(days=30)
    refund_window: timedelta = timedelta(days=120)
    cvv_filter: bool = True
    settlement_cutoff: tuple[time, ZoneInfo] = field(
        default_factory=lambda: parse_cutoff(_DEFAULT_CUTOFF)
    )
    latency_ms: int = 0  # mean added delay, jittered; 0: none
    decline_rate: float = 0.0  # share of otherwise approved charges declined; 0: none
    webhooks: bool = True  # record webhooks to post (GATEWAY_SIMULATOR_WEBHOOK_URL not empty)

    @classmethod
    def from_settings(cls, settings: Settings) -> SimulatorConfig:
        return cls(
            auth_expiry=timedelta(
                days=settings.webhooks.simulator_auth_expiry_days
                or settings.payments.auth_expiry_days
            ),
            refund_window=timedelta(days=settings.payments.refund_window_days),
            cvv_filter=settings.processor.cvv_filter,
            settlement_cutoff=parse_cutoff(settings.payments.settlement_cutoff),
            latency_ms=settings.webhooks.simulator_latency_ms,
            decline_rate=settings.webhooks.simulator_decline_rate,
            webhooks=webhook_url(settings) is not None,
        )
