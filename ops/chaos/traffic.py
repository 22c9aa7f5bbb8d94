"""The payments a chaos run drives: purchases, authorizations, captures, refunds
and cancels, some of them on the simulator's timeout triggers (ANET.md §9:
4222222222222 at 901.00 records the charge and loses the answer; at 902.00 loses
the call), each retried by a careful merchant."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from ops.chaos.merchant import Answer, CarefulMerchant

VISA = "4111111111111111"
TRIGGER_CARD = "4222222222222"
# Minor units of 901.00 and 902.00: the two timeout triggers.
RECORDED_TIMEOUT = 90_100
LOST_TIMEOUT = 90_200

_PAYMENTS = "/api/v1/payments"


@dataclass
class TrafficTally:
    operations: int = 0
    flows: int = 0
    timeouts: Counter[str] = field(default_factory=Counter)
    over_refunds_refused: int = 0
    refunds: Counter[str] = field(default_factory=Counter)


@dataclass
class Traffic:
    merchant: CarefulMerchant
    rng: random.Random
    timeout_rate: float
    tally: TrafficTally = field(default_factory=TrafficTally)
    # Charges captured during the run, for later refunds.
    captured: list[str] = field(default_factory=list)

    def _card_and_amount(self) -> tuple[str, int]:
        if self.rng.random() < self.timeout_rate:
            kind = self.rng.choice(("recorded", "lost"))
            self.tally.timeouts[kind] += 1
            return TRIGGER_CARD, RECORDED_TIMEOUT if kind == "recorded" else LOST_TIMEOUT
        return VISA, self.rng.randrange(100, 50_000)

    def _charge_body(self) -> dict[str, Any]:
        number, amount = self._card_and_amount()
        return {
            "amount": amount,
            "currency": "USD",
            "payment_method": {
                "card": {"number": number, "exp_month": 12, "exp_year": 2031, "cvv": "123"}
            },
        }

    async def _post(self, operation: str, body: dict[str, Any]) -> Answer | None:
        self.tally.operations += 1
        return await self.merchant.post(f"{_PAYMENTS}/{operation}", body)

    async def purchase(self) -> None:
        answer = await self._post("purchase", self._charge_body())
        if _status(answer) == "captured":
            assert answer is not None
            self.captured.append(answer.body["id"])

    async def authorize_then_capture_or_cancel(self) -> None:
        answer = await self._post("authorize", self._charge_body())
        if _status(answer) != "authorized":
            return
        assert answer is not None
        transaction_id = answer.body["id"]
        if self.rng.random() < 0.25:
            await self._post("cancel", {"transaction_id": transaction_id})
            return
        body = {"transaction_id": transaction_id}
        if self.rng.random() < 0.3:
            body["amount"] = max(1, answer.body["amount"] // 2)
        if _status(await self._post("capture", body)) == "succeeded":
            self.captured.append(transaction_id)

    async def refund_an_earlier_charge(self) -> None:
        """Settled (by the run's settlement ticks): two refunds of 60%; not yet: a
        full refund (a void at the processor) and then another. Either way the
        second must be refused, whatever chaos is going on."""
        if not self.captured:
            await self.purchase()
            return
        transaction_id = self.captured.pop(self.rng.randrange(len(self.captured)))
        current = await self.merchant.read(transaction_id)
        if current is None or current.body.get("status") != "captured":
            return
        settled = current.body.get("settled_at") is not None
        self.tally.refunds["after settlement" if settled else "before settlement (void)"] += 1
        part = max(1, current.body["amount_captured"] * 6 // 10)
        body = {"transaction_id": transaction_id, **({"amount": part} if settled else {})}
        for _ in range(2):
            refund = await self._post("refund", body)
            # 422: more than is left; 409: nothing left (already fully refunded).
            if refund is not None and refund.status in (409, 422):
                self.tally.over_refunds_refused += 1

    def progress(self, operations: int) -> float:
        return self.tally.operations / operations

    def next_flow(self) -> Callable[[], Coroutine[None, None, None]]:
        self.tally.flows += 1
        return self.rng.choices(
            (self.purchase, self.authorize_then_capture_or_cancel, self.refund_an_earlier_charge),
            weights=(0.35, 0.35, 0.3),
        )[0]

    async def drive(self, operations: int, concurrency: int) -> None:
        """Run flows `concurrency` at a time until `operations` requests were started."""
        running: set[asyncio.Task[None]] = set()
        while self.tally.operations < operations or running:
            while self.tally.operations < operations and len(running) < concurrency:
                running.add(asyncio.create_task(self.next_flow()()))
                await asyncio.sleep(0)  # let it send its first request (and count it)
            if running:
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()


def _status(answer: Answer | None) -> str | None:
    return None if answer is None else answer.transaction_status
