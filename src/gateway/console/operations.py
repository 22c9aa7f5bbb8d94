"""The gateway's moving parts as an operator watches them: the processor's
breakers, the RQ queues' depths and their dead letters (failed registries)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.exceptions import RedisError

from gateway.composition.resources import Resources
from gateway.core.queues import QUEUE_NAMES

# How many dead letters of each queue the page lists (the count is always whole).
_SHOWN = 20


@dataclass(frozen=True)
class QueueState:
    name: str
    waiting: int
    failed: int
    failed_ids: list[str]


async def breakers(resources: Resources) -> dict[str, str]:
    states = await resources.processors.breaker_states()
    return {name: str(getattr(state, "value", state)) for name, state in states.items()}


async def queues(resources: Resources) -> list[QueueState] | None:
    """RQ's own keys read directly (a list per queue, a sorted set per failed
    registry): the async client the API holds, no worker machinery. None when
    Redis does not answer."""
    redis = resources.redis
    try:
        states = []
        for name in QUEUE_NAMES:
            waiting = await redis.llen(f"rq:queue:{name}")
            failed_key = f"rq:failed:{name}"
            failed = await redis.zcard(failed_key)
            ids = await redis.zrevrange(failed_key, 0, _SHOWN - 1)
            states.append(
                QueueState(
                    name,
                    int(waiting),
                    int(failed),
                    [i.decode() if isinstance(i, bytes) else str(i) for i in ids],
                )
            )
    except (RedisError, OSError):
        return None
    return states
