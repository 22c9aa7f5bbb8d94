"""What the conformance suite needs of each processor beyond the port: how to
settle, and which charges it refuses before sending or loses after recording
(the only two failures that may raise)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.processors.authorize_net.connector import AuthorizeNetConnector
from gateway.processors.port import ChargeRequest, Processor
from gateway.processors.simulator import Simulator
from tests.fixtures.sandbox import RunningSandbox
from tests.processors import REASON_CARD, charge


@dataclass(frozen=True)
class Harness:
    settle_everything: Callable[[], Awaitable[object]]
    # The processor that refuses it (not always the one under test) and the charge.
    refused_before_sending: Callable[[], tuple[Processor, ChargeRequest]]
    lost_after_recording: Callable[[], ChargeRequest]


def simulator_harness(simulator: Simulator) -> Harness:
    """Triggers 903 and 901 (ANET.md §9)."""
    return Harness(
        settle_everything=lambda: simulator.settle(everything=True),
        refused_before_sending=lambda: (simulator, charge(90300, number=REASON_CARD)),
        lost_after_recording=lambda: charge(90100, number=REASON_CARD),
    )


def sandbox_harness(sandbox: RunningSandbox, unreachable: AuthorizeNetConnector) -> Harness:
    """Over the wire, 903 is the connector pointed at a closed port (issue 17,
    point 2); 901 is the sandbox recording the charge, then dropping the connection."""
    return Harness(
        settle_everything=sandbox.settle_now,
        refused_before_sending=lambda: (unreachable, charge()),
        lost_after_recording=lambda: charge(90100, number=REASON_CARD),
    )
