"""The circuit breaker around every processor call.

Its state lives in Redis, so every API and worker process sees the same breaker;
when Redis cannot be reached each process falls back to a state of its own that
still counts failures and opens. Only failures that say the processor is
unreachable count (not sent, or no answer); declines and processor errors are
answers and never count.

closed → (fail_max consecutive failures) → open → (reset_s later) → half_open:
one trial call is let through; its success closes the breaker, its failure opens
it again. A trial that never reports (its process died, or its caller gave up
before the call) frees its slot after `trial_timeout_s`, the longest a call can
take, so the next caller becomes the trial: half-open can never stick. Every
caller, API or job, goes through `admit`, so the single-trial rule holds for all.

Times are the Clock's (seconds since the epoch in Redis), so tests move them.
pybreaker is not used: its Redis storage is synchronous and its fallback never
opens (DESIGN.md "Traps").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.core.clock import Clock
from gateway.core.errors import GatewayError
from gateway.core.handles import BreakerState

__all__ = ["BreakerState", "CircuitBreaker", "Permit", "ProcessorUnavailable"]

_log = structlog.get_logger("gateway.breaker")


class ProcessorUnavailable(GatewayError):
    """The breaker is open: nothing was sent and nothing recorded."""

    code = "processor_unavailable"


@dataclass(frozen=True)
class Permit:
    """The breaker let one call through; `trial`: it is the half-open test call;
    `clean`: the breaker was closed with no failure counted when it let it through,
    so this call's success has nothing to reset (one Redis round trip fewer on
    nearly every call)."""

    trial: bool = False
    clean: bool = False


@dataclass
class _Snapshot:
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    trial_until: float = 0.0


# Atomic across processes. Returns {verdict, seconds left, failures counted}:
# `pass` (closed), `trial` (this caller tests a recovering processor), or `refuse`.
_ADMIT = """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'closed' then return {'pass', '0', redis.call('HGET', KEYS[1], 'failures') or '0'} end
local now = tonumber(ARGV[1])
if state == 'open' then
  local opened = tonumber(redis.call('HGET', KEYS[1], 'opened_at') or '0') or 0
  local reopens = opened + tonumber(ARGV[2])
  if now < reopens then return {'refuse', tostring(reopens - now)} end
else
  local trial_until = tonumber(redis.call('HGET', KEYS[1], 'trial_until') or '0') or 0
  if now < trial_until then return {'refuse', tostring(trial_until - now)} end
end
redis.call('HSET', KEYS[1], 'state', 'half_open', 'trial_until', tostring(now + tonumber(ARGV[3])))
return {'trial', '0'}
"""

# Count a failure; open when the threshold is met or the half-open trial failed.
# `opened` only on the transition, so an opening is logged once.
_RECORD_FAILURE = """
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'half_open' or (state == 'closed' and failures >= tonumber(ARGV[1])) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[2])
  redis.call('HDEL', KEYS[1], 'trial_until')
  return 'opened'
end
return state
"""

# Close; returns the state it closed from, so a recovery is logged once.
_RECORD_SUCCESS = """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', 0)
redis.call('HDEL', KEYS[1], 'opened_at', 'trial_until')
return state
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _number(text: str | None) -> float:
    try:
        return float(text) if text else 0.0
    except ValueError:  # an older format: treat as long past
        return 0.0


def _seconds(left: float) -> int:
    return max(1, math.ceil(left))


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        redis: Redis,
        clock: Clock,
        *,
        fail_max: int,
        reset_s: float,
        trial_timeout_s: float | None = None,
    ) -> None:
        self.name = name
        self.redis = redis
        self.clock = clock
        self.fail_max = fail_max
        self.reset_s = reset_s
        # By default a trial may take as long as the reset period.
        self.trial_timeout_s = trial_timeout_s if trial_timeout_s is not None else reset_s
        self._key = f"gateway:breaker:{name}"
        # EVALSHA (EVAL again only after a NOSCRIPT): the scripts' text is not sent,
        # nor parsed by Redis, on every call.
        self._admit_script = redis.register_script(_ADMIT)
        self._success_script = redis.register_script(_RECORD_SUCCESS)
        self._failure_script = redis.register_script(_RECORD_FAILURE)
        self._local = _Snapshot()

    @property
    def reset(self) -> timedelta:
        return timedelta(seconds=self.reset_s)

    def _now(self) -> float:
        return self.clock.now().timestamp()

    # -- reading -----------------------------------------------------------------

    async def _read(self) -> _Snapshot | None:
        try:
            raw = await self.redis.hgetall(self._key)
        except RedisError:
            return None
        values = {_text(key): _text(value) for key, value in raw.items()}
        return _Snapshot(
            state=BreakerState(values.get("state", BreakerState.CLOSED)),
            failures=int(values.get("failures", 0)),
            opened_at=_number(values.get("opened_at")),
            trial_until=_number(values.get("trial_until")),
        )

    async def state(self) -> BreakerState:
        """What the breaker would do now (an open breaker past its reset is half-open)."""
        snapshot = await self._read() or self._local
        if snapshot.state is BreakerState.OPEN and self._now() >= snapshot.opened_at + self.reset_s:
            return BreakerState.HALF_OPEN
        return snapshot.state

    # -- admitting a call --------------------------------------------------------

    async def admit(self) -> Permit:
        """Let a call through, or raise ProcessorUnavailable (nothing was sent)."""
        try:
            verdict, left, failures = await self._admit_shared()
        except RedisError:
            (verdict, left), failures = self._admit_local(), None
        if verdict == "pass":
            return Permit(clean=failures == 0)
        if verdict == "trial":
            _log.info("breaker.half_open", processor=self.name)
            return Permit(trial=True)
        raise ProcessorUnavailable(
            "The processor is unavailable (circuit open); nothing was charged. Retry later.",
            retry_after=_seconds(left),
        )

    async def _admit_shared(self) -> tuple[str, float, int | None]:
        verdict, left, *failures = await self._admit_script(
            keys=[self._key], args=[self._now(), self.reset_s, self.trial_timeout_s]
        )
        counted = int(_number(_text(failures[0]))) if failures else None
        return _text(verdict), float(_text(left)), counted

    def _admit_local(self) -> tuple[str, float]:
        """Redis is down: the same rules on this process's own state."""
        local, now = self._local, self._now()
        if local.state is BreakerState.CLOSED:
            return "pass", 0.0
        if local.state is BreakerState.OPEN and now < local.opened_at + self.reset_s:
            return "refuse", local.opened_at + self.reset_s - now
        if local.state is BreakerState.HALF_OPEN and now < local.trial_until:
            return "refuse", local.trial_until - now
        local.state = BreakerState.HALF_OPEN
        local.trial_until = now + self.trial_timeout_s
        return "trial", 0.0

    # -- recording the result ----------------------------------------------------

    async def record_success(self, permit: Permit | None = None) -> None:
        """Close the breaker and reset its count; nothing to do in Redis when the
        call's permit was clean (a failure counted since then by another call is
        left to the next success, or to the threshold)."""
        if permit is not None and permit.clean:
            self._local = _Snapshot()
            return
        try:
            before = _text(await self._success_script(keys=[self._key]))
        except RedisError:
            before = self._local.state
        if before != BreakerState.CLOSED:
            _log.info("breaker.closed", processor=self.name)
        self._local = _Snapshot()

    async def record_failure(self) -> None:
        now = self._now()
        try:
            result = _text(await self._failure_script(keys=[self._key], args=[self.fail_max, now]))
        except RedisError:
            result = self._record_local_failure(now)
        if result == "opened":
            _log.warning("breaker.opened", processor=self.name)

    def _record_local_failure(self, now: float) -> str:
        """Redis is down: this process counts and opens on its own."""
        local = self._local
        local.failures += 1
        if local.state is BreakerState.HALF_OPEN or (
            local.state is BreakerState.CLOSED and local.failures >= self.fail_max
        ):
            local.state = BreakerState.OPEN
            local.opened_at = now
            local.trial_until = 0.0
            return "opened"
        return str(local.state)
