"""The subscriptions a chaos run creates, so that renewals are charged while the
gateway's processes are being killed.

A renewal period is a day at least, longer than any run, so two kinds stand in:

- a wall-clock subscription whose `start_date` is seconds away: its first charge
  is the billing tick's (an invoice opened by the tick, charged by a `billing`
  worker through the very code that charges a renewal), so workers are killed
  in the middle of it;
- a subscription on a test clock of its own, advanced a few days: each day is a
  true renewal, charged by the API while it runs the advance.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ops.chaos.merchant import Answer, CarefulMerchant

_API = "/api/v1"
VISA = "4111111111111111"
# How far ahead a wall-clock subscription starts: within a short run, never in
# the past by the time a retried creation reaches the API.
START_IN_S = (15.0, 30.0)
CLOCK_DAYS = (1, 3)  # renewals per test clock


@dataclass
class Subscribers:
    merchant: CarefulMerchant
    rng: random.Random
    # What was asked and how it ended, for the report.
    tally: Counter[str] = field(default_factory=Counter)
    operations: int = 0

    async def _post(self, path: str, body: dict[str, Any]) -> Answer | None:
        self.operations += 1
        return await self.merchant.post(f"{_API}{path}", body)

    async def _payment_method(self, customer: str) -> str | None:
        card = {"number": VISA, "exp_month": 12, "exp_year": 2031, "cvv": "123"}
        answer = await self._post("/payment-methods", {"card": card, "customer": {"id": customer}})
        found = None if answer is None else answer.body.get("id")
        return found if isinstance(found, str) else None

    async def _subscribe(self, **extra: Any) -> Answer | None:
        customer = f"cus_chaos_{self.rng.randrange(10**9)}"
        token = await self._payment_method(customer)
        if token is None:
            self.tally["subscriptions not started (no payment method)"] += 1
            return None
        body = {
            "customer": {"id": customer},
            "amount": self.rng.randrange(100, 20_000),
            "currency": "USD",
            "interval": "day",
            "payment_method": {"token": token},
            **extra,
        }
        answer = await self._post("/subscriptions", body)
        status = None if answer is None else answer.status
        code = "" if answer is None or status in (200, 201, 202) else answer.body.get("code")
        self.tally[f"subscription answers {status} {code}".rstrip()] += 1
        return answer

    async def subscribe_starting_soon(self) -> None:
        """First charged by the billing tick, in a worker, a few seconds from now."""
        start = datetime.now(UTC) + timedelta(seconds=self.rng.uniform(*START_IN_S))
        await self._subscribe(start_date=start.isoformat())

    async def subscribe_on_a_test_clock(self) -> None:
        """Charged now (during the request), then renewed by advancing the clock."""
        self.operations += 1
        clock = await self.merchant.send(
            f"{_API}/test-clocks", {"frozen_time": datetime.now(UTC).isoformat()}
        )
        if clock is None or clock.status != 201:
            self.tally["test clocks not created"] += 1
            return
        clock_id, frozen = clock.body["id"], datetime.fromisoformat(clock.body["frozen_time"])
        answer = await self._subscribe(test_clock_id=clock_id)
        if answer is not None and answer.status not in (200, 201, 202):
            return
        # A 202 (or no answer at all) leaves the first charge in doubt: only its
        # clock's advance reconciles it, at the clock's time, never the wall clock.
        # An hour past each due moment: the billing dates keep the time of day.
        target = frozen + timedelta(days=self.rng.randint(*CLOCK_DAYS), hours=1)
        await self._advance(clock_id, target)

    async def _advance(self, clock_id: str, target: datetime) -> None:
        self.operations += 1
        path = f"{_API}/test-clocks/{clock_id}/advance"
        answer = await self.merchant.send(path, {"frozen_time": target.isoformat()})
        if answer is not None and answer.status == 400:
            # An advance whose answer was lost (the API was killed after its commit):
            # the retry finds the clock already there. Anything else is a real refusal.
            now = _frozen_time(await self.merchant.get(f"{_API}/test-clocks/{clock_id}"))
            if now is not None and now >= target:
                self.tally["test clocks advanced"] += 1
                return
        status = None if answer is None else answer.status
        self.tally["test clocks advanced" if status == 200 else f"advances answered {status}"] += 1


def _frozen_time(clock: Answer | None) -> datetime | None:
    found = None if clock is None else clock.body.get("frozen_time")
    return datetime.fromisoformat(found) if isinstance(found, str) else None
