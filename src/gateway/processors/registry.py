"""Which processor serves a request: test keys always the simulator, live keys
the one configured for the deployment (API.md "Authentication and modes").
Both come behind their circuit breaker and safe retries."""

from __future__ import annotations

from collections.abc import Callable

from gateway.core.clock import Clock
from gateway.processors.breaker import BreakerState, ProcessorUnavailable
from gateway.processors.resilient import ResilientProcessor


class ProcessorRegistry:
    def __init__(self, *, test: ResilientProcessor, live: ResilientProcessor | None) -> None:
        self.test = test
        self.live = live

    def for_mode(self, livemode: bool) -> ResilientProcessor:
        if not livemode:
            return self.test
        if self.live is None:
            raise ProcessorUnavailable(
                "The live processor is not available on this deployment.", retry_after=60
            )
        return self.live

    async def breaker_state(self) -> BreakerState:
        """The deployment's processor, as /health reports it (information only)."""
        return await (self.live or self.test).state()

    async def breaker_states(self) -> dict[str, BreakerState]:
        """Every processor's breaker, by name (for the metrics)."""
        processors = {self.test.name: self.test}
        if self.live is not None:
            processors[self.live.name] = self.live
        return {name: await processor.state() for name, processor in processors.items()}


# The processors on a given clock's time (a test clock's advance); test mode only.
ProcessorsAt = Callable[[Clock], ProcessorRegistry]
