"""Which processor serves a request: test keys always the simulator, live keys
the one configured for the deployment (API.md "Authentication and modes")."""

from __future__ import annotations

from gateway.core.errors import GatewayError
from gateway.processors.port import Processor


class ProcessorNotConfigured(GatewayError):
    code = "processor_unavailable"
    title = "Processor unavailable"


class ProcessorRegistry:
    def __init__(self, *, test: Processor, live: Processor | None) -> None:
        self.test = test
        self.live = live

    def for_mode(self, livemode: bool) -> Processor:
        if not livemode:
            return self.test
        if self.live is None:
            raise ProcessorNotConfigured(
                "The live processor is not available on this deployment.", retry_after=60
            )
        return self.live
