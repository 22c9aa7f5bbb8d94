"""A test clock's time as the `Clock` services take for their `now`.

Its own module so that both the clocks' service (which cancels subscriptions
through the lifecycle) and the lifecycle (which changes a subscription at its
clock's time) can read it without importing each other.
"""

from __future__ import annotations

from gateway.core.clock import FrozenClock
from gateway.subscriptions.models import TestClock


def time_of(clock: TestClock) -> FrozenClock:
    """The clock's time as a Clock the services take for their `now`."""
    return FrozenClock(clock.frozen_time)
