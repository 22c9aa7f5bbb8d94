"""The payments a chaos run drives: purchases, authorizations, captures, refunds
and cancels, some of them on the simulator's timeout triggers (ANET.md §9:
4222222222222 at 901.00 records the charge and loses the answer; at 902.00 loses
the call), each retried by a careful merchant. Some merchants walk away: from an
authorization they never capture (the expiry sweep voids it) and from a 202 they
never replay (their client timed out; compensation voids the orphan). And some
subscribe (`subscribers.py`), so that renewals are charged during the run."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from ops.chaos.merchant import Answer, CarefulMerchant
from ops.chaos.subscribers import Subscribers

VISA = "4111111111111111"
TRIGGER_CARD = "4222222222222"
# Minor units of 901.00 and 902.00: the two timeout triggers.
RECORDED_TIMEOUT = 90_100
LOST_TIMEOUT = 90_200

_PAYMENTS = "/api/v1/payments"
# The run opens with this many flows that leave work for the background
# (renewals, expiry, compensation), twice each, whatever the seed: even a short
# run has that work happen under its kills.
_BACKGROUND_KINDS = 4
_ON_A_TEST_CLOCK = 1  # the flow of those that live keys cannot run
_BACKGROUND_UNTIL = 0.6  # share of the operations


@dataclass
class TrafficTally:
    operations: int = 0
    flows: int = 0
    timeouts: Counter[str] = field(default_factory=Counter)
    over_refunds_refused: int = 0
    refunds: Counter[str] = field(default_factory=Counter)
    walked_away: Counter[str] = field(default_factory=Counter)


@dataclass
class Traffic:
    merchant: CarefulMerchant
    rng: random.Random
    timeout_rate: float
    # Live keys: no test clocks (403), so no subscription on one.
    live: bool = False
    tally: TrafficTally = field(default_factory=TrafficTally)
    # Charges captured during the run, for later refunds.
    captured: list[str] = field(default_factory=list)
    subscribers: Subscribers = field(init=False)
    target: int = 0  # the operations `drive` was asked for

    def __post_init__(self) -> None:
        self.subscribers = Subscribers(self.merchant, self.rng)

    @property
    def operations(self) -> int:
        return self.tally.operations + self.subscribers.operations

    def _card_and_amount(self) -> tuple[str, int]:
        if self.rng.random() < self.timeout_rate:
            kind = self.rng.choice(("recorded", "lost"))
            self.tally.timeouts[kind] += 1
            return TRIGGER_CARD, RECORDED_TIMEOUT if kind == "recorded" else LOST_TIMEOUT
        return VISA, self._amount()

    def _charge_body(self, card: tuple[str, int] | None = None) -> dict[str, Any]:
        number, amount = card or self._card_and_amount()
        return {
            "amount": amount,
            "currency": "USD",
            "payment_method": {
                "card": {"number": number, "exp_month": 12, "exp_year": 2031, "cvv": "123"}
            },
        }

    async def _post(
        self, operation: str, body: dict[str, Any], *, follow_up: bool = True
    ) -> Answer | None:
        self.tally.operations += 1
        return await self.merchant.post(f"{_PAYMENTS}/{operation}", body, follow_up=follow_up)

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

    async def authorize_and_walk_away(self) -> None:
        """Never captured: the expiry sweep voids it at the processor."""
        answer = await self._post("authorize", self._charge_body((VISA, self._amount())))
        if _status(answer) == "authorized":
            self.tally.walked_away["from an authorization"] += 1

    async def charge_and_walk_away(self) -> None:
        """The processor's answer is lost (901.00) and the merchant's own client
        times out on the 202: it never replays the key, so once reconciliation
        finds the charge approved it is an orphan, voided by compensation (a
        purchase settled first is recorded instead; an authorization is never
        settled, so its void is the sweep's)."""
        operation = self.rng.choice(("purchase", "authorize"))
        self.tally.timeouts["recorded"] += 1
        answer = await self._post(
            operation, self._charge_body((TRIGGER_CARD, RECORDED_TIMEOUT)), follow_up=False
        )
        if answer is not None and answer.status == 202:
            self.tally.walked_away[f"from a 202 ({operation})"] += 1

    def _amount(self) -> int:
        return self.rng.randrange(100, 50_000)

    def progress(self, operations: int) -> float:
        return self.operations / operations

    def next_flow(self) -> Callable[[], Coroutine[None, None, None]]:
        flows = (
            self.subscribers.subscribe_starting_soon,
            self.subscribers.subscribe_on_a_test_clock,
            self.authorize_and_walk_away,
            self.charge_and_walk_away,
            self.purchase,
            self.authorize_then_capture_or_cancel,
            self.refund_an_earlier_charge,
        )
        self.tally.flows += 1
        kinds = [k for k in range(_BACKGROUND_KINDS) if not (self.live and k == _ON_A_TEST_CLOCK)]
        if self.tally.flows <= 2 * len(kinds):
            return flows[kinds[(self.tally.flows - 1) % len(kinds)]]
        weights = [0.08, 0.04, 0.08, 0.05, 0.25, 0.25, 0.25]
        if self.live:
            weights[_ON_A_TEST_CLOCK] = 0.0
        if self.operations > _BACKGROUND_UNTIL * self.target:
            # Late in the run, work seconds away would only lengthen the wait for it.
            weights[:_BACKGROUND_KINDS] = [0.0] * _BACKGROUND_KINDS
        return self.rng.choices(flows, weights=weights)[0]

    async def drive(self, operations: int, concurrency: int) -> None:
        """Run flows `concurrency` at a time until `operations` requests were started."""
        self.target = operations
        running: set[asyncio.Task[None]] = set()
        while self.operations < operations or running:
            while self.operations < operations and len(running) < concurrency:
                running.add(asyncio.create_task(self.next_flow()()))
                await asyncio.sleep(0)  # let it send its first request (and count it)
            if running:
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()


def _status(answer: Answer | None) -> str | None:
    return None if answer is None else answer.transaction_status
