"""The delivery sweep as a process of its own (the SIGKILL test kills it mid-
attempt): `deliver_due`'s code, configured from the environment like a worker,
with the tests' renderer."""

from __future__ import annotations

import asyncio

from jobs.deliveries import sweep_deliveries
from tests.webhooks.outbound.conftest import render_envelope

if __name__ == "__main__":
    asyncio.run(sweep_deliveries(render=render_envelope))
