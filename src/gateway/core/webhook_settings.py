"""Webhook settings (API.md "Running", "Webhooks"): inbound processing, the
simulator's own posts, and outbound merchant deliveries."""

from __future__ import annotations

import msgspec

from gateway.core.setting_types import NonNegativeInt, PositiveFloat, PositiveInt, Rate, prefixed


class WebhookSettings(msgspec.Struct, frozen=True, rename=prefixed("GATEWAY_")):
    # One retry per interval (jittered by up to 10 %); 0 retries at once.
    webhook_retry_schedule_s: tuple[NonNegativeInt, ...] = (10, 60, 300, 1800, 7200)
    webhook_unmatched_grace_s: PositiveInt = 300
    # None: this gateway's own inbound endpoint; "" turns the simulator's webhooks off.
    simulator_webhook_url: str | None = None
    simulator_latency_ms: NonNegativeInt = 0
    simulator_decline_rate: Rate = 0.0
    # How long the simulator holds an authorization; None: GATEWAY_AUTH_EXPIRY_DAYS.
    # Longer lets the expiry sweep void holds before the processor lets them lapse,
    # as the chaos suite does (a real processor's lifetime is its own, not ours).
    simulator_auth_expiry_days: PositiveFloat | None = None
    # Outbound merchant webhooks (API.md "Webhooks / Outbound"): the delay after
    # each failed attempt (jittered by up to 10 %), then the delivery is dead.
    webhook_delivery_schedule_s: tuple[NonNegativeInt, ...] = (
        5, 300, 1800, 7200, 18000, 36000, 36000, 86400, 86400,
    )  # fmt: skip
    # A whole attempt (connect, send, read the answer) takes at most this long.
    webhook_delivery_timeout_s: PositiveFloat = 10.0
    # Attempts in flight at once per endpoint: one slow receiver holds no more.
    webhook_delivery_concurrency: PositiveInt = 8
    # An attempt still in flight after this long was lost with its worker and is
    # made again; longer than the timeout.
    webhook_delivery_lease_s: PositiveInt = 60

    def __post_init__(self) -> None:
        # A lease that ran out before its attempt could end would send it twice.
        if self.webhook_delivery_lease_s <= self.webhook_delivery_timeout_s:
            raise ValueError(
                "must be longer than GATEWAY_WEBHOOK_DELIVERY_TIMEOUT_S"
                " - at `$.GATEWAY_WEBHOOK_DELIVERY_LEASE_S`"
            )
