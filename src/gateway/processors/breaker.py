"""The circuit breaker around every processor call.

Its state lives in Redis, so every API and worker process sees the same breaker;
when Redis cannot be reached each process falls back to a state of its own that
still counts failures and opens. Only failures that say the processor is
unreachable count (not sent, or no answer); declines and processor errors are
answers and never count.

closed → (fail_max consecutive failures) → open → (reset_s later) → half_open:
one trial call is let through; its success closes the breaker, its failure opens
it again. pybreaker is not used: its Redis storage is synchronous and its
fallback never opens (DESIGN.md "Traps").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.core.clock import Clock
from gateway.core.errors import GatewayError

_log = structlog.get_logger("gateway.breaker")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class ProcessorUnavailable(GatewayError):
    """The breaker is open: nothing was sent and nothing recorded."""

    code = "processor_unavailable"
    title = "Processor unavailable"


@dataclass
class _Snapshot:
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: datetime | None = None


# Atomic across processes: count a failure and open when the threshold is met,
# or re-open at once when the half-open trial failed.
_RECORD_FAILURE = """
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'half_open' or (state ~= 'open' and failures >= tonumber(ARGV[1])) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[2])
  redis.call('DEL', KEYS[2])
  return 'open'
end
return state
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        redis: Redis,
        clock: Clock,
        *,
        fail_max: int,
        reset_s: float,
    ) -> None:
        self.name = name
        self.redis = redis
        self.clock = clock
        self.fail_max = fail_max
        self.reset = timedelta(seconds=reset_s)
        self._key = f"gateway:breaker:{name}"
        self._trial_key = f"{self._key}:trial"
        self._local = _Snapshot()
        self._local_trial = False

    # -- reading -----------------------------------------------------------------

    async def _read(self) -> _Snapshot | None:
        try:
            raw = await self.redis.hgetall(self._key)
        except RedisError:
            return None
        if not raw:
            return _Snapshot()
        values = {_text(key): _text(value) for key, value in raw.items()}
        opened = values.get("opened_at")
        return _Snapshot(
            state=BreakerState(values.get("state", BreakerState.CLOSED)),
            failures=int(values.get("failures", 0)),
            opened_at=datetime.fromisoformat(opened) if opened else None,
        )

    async def state(self) -> BreakerState:
        """What the breaker would do now (an open breaker past its reset is half-open)."""
        snapshot = await self._read() or self._local
        if snapshot.state is BreakerState.OPEN and self._reset_elapsed(snapshot):
            return BreakerState.HALF_OPEN
        return snapshot.state

    def _reset_elapsed(self, snapshot: _Snapshot) -> bool:
        return snapshot.opened_at is None or self.clock.now() - snapshot.opened_at >= self.reset

    def _retry_after(self, snapshot: _Snapshot) -> int:
        if snapshot.opened_at is None:
            return 1
        left = snapshot.opened_at + self.reset - self.clock.now()
        return max(1, int(left.total_seconds() + 0.999))

    # -- admitting a call --------------------------------------------------------

    async def admit(self) -> None:
        """Let a call through, or raise ProcessorUnavailable (nothing was sent)."""
        snapshot = await self._read()
        shared = snapshot is not None
        snapshot = snapshot or self._local
        if snapshot.state is BreakerState.CLOSED:
            return
        reset_elapsed = snapshot.state is BreakerState.OPEN and self._reset_elapsed(snapshot)
        if reset_elapsed and await self._take_trial(shared):
            _log.info("breaker.half_open", processor=self.name)
            return
        raise ProcessorUnavailable(
            "The processor is unavailable (circuit open); nothing was charged. Retry later.",
            retry_after=self._retry_after(snapshot),
        )

    async def _take_trial(self, shared: bool) -> bool:
        """Only one call may test a recovering processor."""
        if not shared:
            if self._local_trial:
                return False
            self._local_trial = True
            self._local.state = BreakerState.HALF_OPEN
            return True
        try:
            ttl_ms = max(1000, int(self.reset.total_seconds() * 1000))
            taken = await self.redis.set(self._trial_key, "1", nx=True, px=ttl_ms)
            if taken:
                await self.redis.hset(self._key, "state", BreakerState.HALF_OPEN)
            return bool(taken)
        except RedisError:
            return False

    # -- recording the result ----------------------------------------------------

    async def record_success(self) -> None:
        try:
            async with self.redis.pipeline(transaction=True) as pipeline:
                pipeline.hset(self._key, mapping={"state": BreakerState.CLOSED, "failures": 0})
                pipeline.hdel(self._key, "opened_at")
                pipeline.delete(self._trial_key)
                await pipeline.execute()
        except RedisError:
            pass
        if self._local.state is not BreakerState.CLOSED:
            _log.info("breaker.closed", processor=self.name)
        self._local = _Snapshot()
        self._local_trial = False

    async def record_failure(self) -> None:
        now = self.clock.now()
        if await self._record_shared_failure(now) is not None:
            return
        # Redis is down: this process counts and opens on its own.
        local = self._local
        local.failures += 1
        if local.state is BreakerState.HALF_OPEN or (
            local.state is BreakerState.CLOSED and local.failures >= self.fail_max
        ):
            _log.warning("breaker.opened", processor=self.name, shared=False)
            local.state = BreakerState.OPEN
            local.opened_at = now
            self._local_trial = False

    async def _record_shared_failure(self, now: datetime) -> BreakerState | None:
        try:
            result = await self.redis.eval(
                _RECORD_FAILURE, 2, self._key, self._trial_key, self.fail_max, now.isoformat()
            )
        except RedisError:
            return None
        state = BreakerState(_text(result))
        if state is BreakerState.OPEN:
            _log.warning("breaker.opened", processor=self.name, shared=True)
        return state
