"""Rate-limit settings (API.md "Rate limits")."""

from __future__ import annotations

import ipaddress

import msgspec

from gateway.core.setting_types import PositiveInt, prefixed


class RateLimitSettings(msgspec.Struct, frozen=True, rename=prefixed("GATEWAY_")):
    """API.md "Rate limits": per key and second, each for reads and writes, with
    bursts up to twice that; per client address and minute for failures."""

    rate_limit_live_per_s: PositiveInt = 100
    rate_limit_test_per_s: PositiveInt = 25
    rate_limit_failed_auth_per_min: PositiveInt = 20
    rate_limit_webhook_invalid_per_min: PositiveInt = 60
    # Addresses or networks whose X-Forwarded-For is believed; none by default,
    # so a client cannot pick the address its failures are counted against.
    trusted_proxies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(
                    f"{proxy!r} is not an address or network - at `$.GATEWAY_TRUSTED_PROXIES`"
                ) from None
