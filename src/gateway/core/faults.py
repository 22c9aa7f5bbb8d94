"""Fault injection for the chaos suite (`ops/chaos/`): never in production.

`GATEWAY_FAULT_INJECTION` names points of the money runner and a probability for
each, e.g. `after_processor_call=0.03,before_final_commit=0.02`. A process that
reaches a named point kills itself with SIGKILL at that rate: no cleanup, no
`finally`, exactly what a power cut or an OOM kill does to a request between its
processor call and its final commit. The suite then proves that reconciliation
and replays leave nothing charged twice or lost.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Callable, Mapping
from enum import StrEnum
from types import MappingProxyType

import structlog

_log = structlog.get_logger("gateway.faults")


class FaultPoint(StrEnum):
    # Phase 1 committed, the processor not yet called: the transaction is pending
    # and the processor never hears of it.
    AFTER_RESERVE = "after_reserve"
    # The processor answered (it may have charged); nothing of it is written.
    AFTER_PROCESSOR_CALL = "after_processor_call"
    # Phase 3 is written but not committed: the commit never happens.
    BEFORE_FINAL_COMMIT = "before_final_commit"


def _kill_this_process() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class FaultPoints:
    def __init__(
        self,
        probabilities: Mapping[FaultPoint, float],
        *,
        rng: random.Random | None = None,
        kill: Callable[[], None] = _kill_this_process,
    ) -> None:
        self.probabilities = MappingProxyType(dict(probabilities))
        self._rng = rng or random.Random()  # noqa: S311 - chaos, not cryptography
        self._kill = kill

    @classmethod
    def none(cls) -> FaultPoints:
        return cls({})

    @classmethod
    def parse(cls, text: str) -> FaultPoints:
        """`point=probability,...`; raises ValueError naming what is wrong."""
        probabilities: dict[FaultPoint, float] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, separator, rate = item.partition("=")
            try:
                point = FaultPoint(name.strip())
            except ValueError:
                known = ", ".join(point.value for point in FaultPoint)
                raise ValueError(f"unknown fault point {name.strip()!r} (known: {known})") from None
            try:
                probability = float(rate) if separator else -1.0
            except ValueError:
                probability = -1.0
            if not 0.0 <= probability <= 1.0:
                raise ValueError(f"{point.value}: expected a probability from 0 to 1")
            probabilities[point] = probability
        return cls(probabilities)

    @property
    def enabled(self) -> bool:
        return any(probability > 0 for probability in self.probabilities.values())

    def reach(self, point: FaultPoint) -> None:
        probability = self.probabilities.get(point, 0.0)
        if probability and self._rng.random() < probability:
            _log.warning("fault.injected", point=point.value, pid=os.getpid())
            self._kill()
