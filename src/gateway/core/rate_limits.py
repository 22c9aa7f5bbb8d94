"""Rate limits in Redis (API.md "Rate limits"): sliding-window counters shared by
every API process, which fail open when Redis cannot answer.

A limiter that cannot reach Redis lets the request through and counts that in
`gateway_rate_limiter_unavailable_total`: a payment never fails for want of a
counter. Its Redis calls are bounded by a short timeout, and after a failure it
does not ask again for a moment, so an outage adds no latency to every request.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import Final, Literal

import structlog
from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from prometheus_client import Counter
from redis.exceptions import RedisError

from gateway.core.errors import RateLimited

Kind = Literal["read", "write", "failed_auth", "webhook_invalid"]

# A local Redis answers in well under a millisecond; a limiter waiting longer
# than this would slow payments more than it protects them.
REDIS_TIMEOUT_S: Final = 0.25
# After a failure, requests pass without asking Redis for this long.
BACKOFF_S: Final = 1.0

LIMITED: Final = Counter(
    "gateway_rate_limited_total",
    "Requests answered 429 rate_limited, by kind (read, write, failed_auth, webhook_invalid).",
    ["kind"],
)
UNAVAILABLE: Final = Counter(
    "gateway_rate_limiter_unavailable_total",
    "Requests let through unchecked because the limiter could not reach Redis.",
)

_log = structlog.get_logger("gateway.rate_limits")


@dataclass(frozen=True, slots=True)
class Policy:
    """`quota` requests per `window_s` seconds, named in the RateLimit headers."""

    kind: Kind
    quota: int
    window_s: int

    @classmethod
    def per_second(cls, kind: Kind, rate: int) -> Policy:
        """`rate` a second on average with bursts up to twice that: twice the rate
        over a two-second sliding window."""
        return cls(kind, quota=2 * rate, window_s=2)

    @classmethod
    def per_minute(cls, kind: Kind, rate: int) -> Policy:
        return cls(kind, quota=rate, window_s=60)

    @property
    def item(self) -> RateLimitItem:
        if self.window_s == 60:
            return RateLimitItemPerMinute(self.quota, 1)
        return RateLimitItemPerSecond(self.quota, self.window_s)

    def exceeded(self, retry_after: int) -> RateLimited:
        """The 429 with `Retry-After` and the IETF headers
        (draft-ietf-httpapi-ratelimit-headers: a quoted policy name, q, w, r, t)."""
        LIMITED.labels(self.kind).inc()
        return RateLimited(
            f"Too many requests; retry in {retry_after} s.",
            retry_after=retry_after,
            headers={
                "RateLimit-Policy": f'"{self.kind}";q={self.quota};w={self.window_s}',
                "RateLimit": f'"{self.kind}";r=0;t={retry_after}',
            },
        )


class RateLimiter:
    """Counts requests against policies, per identity (a key, an address)."""

    def __init__(self, storage: Storage) -> None:
        self._strategy = SlidingWindowCounterRateLimiter(storage)
        self._skip_until = 0.0

    async def hit(self, policy: Policy, *identity: str) -> None:
        """Count one request; raise RateLimited if it is over the policy."""
        await self._check(policy, identity, count=True)

    async def check(self, policy: Policy, *identity: str) -> None:
        """Raise RateLimited if the policy is already spent, counting nothing."""
        await self._check(policy, identity, count=False)

    async def _check(self, policy: Policy, identity: tuple[str, ...], *, count: bool) -> None:
        if time.monotonic() < self._skip_until:
            UNAVAILABLE.inc()
            return
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_S):
                if count:
                    allowed = await self._strategy.hit(policy.item, policy.kind, *identity)
                else:
                    allowed = await self._strategy.test(policy.item, policy.kind, *identity)
                if allowed:
                    return
                stats = await self._strategy.get_window_stats(policy.item, policy.kind, *identity)
        except (StorageError, RedisError, OSError, TimeoutError) as error:
            self._skip_until = time.monotonic() + BACKOFF_S
            UNAVAILABLE.inc()
            _log.warning("rate_limit.unavailable", kind=policy.kind, error=type(error).__name__)
            return
        raise policy.exceeded(max(1, math.ceil(stats.reset_time - time.time())))
