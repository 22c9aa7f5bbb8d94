"""Which processor serves a request: test keys always the simulator, live keys
the one configured for the deployment (API.md "Authentication and modes").
Both come behind their circuit breaker and safe retries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from gateway.core.clock import Clock
from gateway.core.errors import Forbidden
from gateway.processors.breaker import BreakerState, ProcessorUnavailable
from gateway.processors.resilient import ResilientProcessor

LIVE_MODE_DISABLED = "live mode is not enabled on this deployment"


class LiveModeDisabled(Forbidden):
    """A deployment that runs test keys only refuses live keys. No retry could
    change that, so it is a 403, never a retryable 503."""


class ProcessorRegistry:
    def __init__(
        self,
        *,
        test: ResilientProcessor,
        live: ResilientProcessor | None,
        live_enabled: bool = True,
        closers: Sequence[Callable[[], Awaitable[None]]] = (),
    ) -> None:
        self.test = test
        self.live = live
        # False: live keys are refused outright (production on the simulator).
        self.live_enabled = live_enabled
        self._closers = tuple(closers)

    async def aclose(self) -> None:
        """Release what the processors hold (a connector's connection pool)."""
        for close in self._closers:
            await close()

    def for_key(self, livemode: bool) -> ResilientProcessor:
        """The processor for a request made with an API key of that mode. Called
        before anything is written, so a refused live key leaves no row."""
        if livemode and not self.live_enabled:
            raise LiveModeDisabled(LIVE_MODE_DISABLED)
        return self.for_mode(livemode)

    def for_mode(self, livemode: bool) -> ResilientProcessor:
        """The processor for work on an existing row (reconciliation, sweeps,
        renewals): without a live processor it is unavailable, which those jobs
        take as "ask again later" and which never moves money elsewhere."""
        if not livemode:
            return self.test
        if self.live is None:
            raise ProcessorUnavailable(
                "The live processor is not available on this deployment.", retry_after=60
            )
        return self.live

    def processors(self) -> list[ResilientProcessor]:
        """Every processor of the deployment once, test first (live may be the
        test one itself, when both run on the simulator)."""
        if self.live is None or self.live is self.test:
            return [self.test]
        return [self.test, self.live]

    async def breaker_state(self) -> BreakerState:
        """The live processor's breaker, as /health reports it (information only);
        the simulator's only on a deployment without one."""
        return await (self.live or self.test).state()

    async def breaker_states(self) -> dict[str, BreakerState]:
        """Every processor's breaker, by name (for the metrics)."""
        processors = {self.test.name: self.test}
        if self.live is not None:
            processors[self.live.name] = self.live
        return {name: await processor.state() for name, processor in processors.items()}


# The processors on a given clock's time (a test clock's advance); test mode only.
ProcessorsAt = Callable[[Clock], ProcessorRegistry]
