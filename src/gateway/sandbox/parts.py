"""What every call handler of the sandbox works with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.core.clock import Clock
from gateway.processors.simulator import Simulator
from gateway.sandbox.reads import SandboxReads

# An Authorize.Net account settles in one currency: a request without a
# currencyCode is in this one.
ACCOUNT_CURRENCY: Final = "USD"


@dataclass(frozen=True)
class Parts:
    simulator: Simulator
    reads: SandboxReads
    clock: Clock
