"""Fixtures of the outbound tests: endpoints and relay passes (relaying.py), and the
payments and subscriptions flows that make the history events they fan out."""

from tests.payments.conftest import sweeps  # noqa: F401 - a fixture
from tests.subscriptions.conftest import (  # noqa: F401 - fixtures
    api,
    billing,
    clocks,
    subscriptions_key,
)
from tests.webhooks.outbound.relaying import outbound  # noqa: F401 - a fixture
