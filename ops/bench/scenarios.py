"""What the load suite sends: purchases with unique keys, a merchant's mixed
journey, and signed inbound webhooks. The same request goes to the twin and to
the gateway; `strict` says whether the exact status is checked (the gateway) or
any 2xx will do (the twin, which answers every payment as a purchase)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select

from gateway.composition.process import api_resources
from gateway.core.settings import Settings
from gateway.processors.port import Outcome
from gateway.processors.simulator.models import SimulatorTransaction
from gateway.processors.simulator.rules import Kind
from gateway.processors.simulator.webhooks import EventType, body_of
from gateway.webhooks.signature import HEADER, sign
from ops.bench.load import Send

CARD = {"number": "4111111111111111", "exp_month": 12, "exp_year": 2030, "cvv": "123"}
# The simulator's decline trigger (README "Payments, step by step"): reason 2.
DECLINED_CARD = {**CARD, "number": "4222222222222"}
PURCHASE = {"amount": 1500, "currency": "USD", "payment_method": {"card": CARD}}
DECLINE = {"amount": 200, "currency": "USD", "payment_method": {"card": DECLINED_CARD}}
REFUND_AMOUNT = 10  # of 1500: one settled purchase takes many partial refunds
PAYMENTS = "/api/v1/payments"
WEBHOOKS = "/api/v1/webhooks/simulator"


def _ok(status: int, expected: int, *, strict: bool) -> bool:
    return status == expected if strict else 200 <= status < 300


def purchases(prefix: str, *, strict: bool, ids: list[str] | None = None) -> Send:
    """Purchases, each with a key of its own; the ids of those made go to `ids`."""

    async def send(http: httpx.AsyncClient, number: int) -> bool:
        response = await http.post(
            f"{PAYMENTS}/purchase", json=PURCHASE, headers={"Idempotency-Key": f"{prefix}-{number}"}
        )
        if ids is not None and response.status_code == 201:
            ids.append(response.json()["id"])
        return _ok(response.status_code, 201, strict=strict)

    return send


async def seed_purchases(http: httpx.AsyncClient, prefix: str, n: int) -> list[str]:
    """N purchases, 8 at a time (not measured); their ids."""
    ids: list[str] = []
    numbers = iter(range(n))

    async def some() -> None:
        for number in numbers:
            response = await http.post(
                f"{PAYMENTS}/purchase",
                json=PURCHASE,
                headers={"Idempotency-Key": f"{prefix}-seed-{number}"},
            )
            response.raise_for_status()
            ids.append(response.json()["id"])

    await asyncio.gather(*(some() for _ in range(8)))
    return ids


@dataclass(frozen=True)
class _Sent:
    path: str
    key: str
    body: dict[str, Any]
    status: int


class Journey:
    """A merchant's day, request by request: purchases, authorizations captured
    later, partial refunds of settled purchases, 5% declines and 20% replays of
    an earlier key (which must answer what it answered then)."""

    WEIGHTS = (
        ("purchase", 0.30),
        ("authorize", 0.15),
        ("capture", 0.15),
        ("refund", 0.10),
        ("decline", 0.05),
        ("replay", 0.20),
    )

    def __init__(self, prefix: str, settled: list[str], *, strict: bool, seed: int = 7) -> None:
        self.prefix = prefix
        self.settled = settled
        self.strict = strict
        self.rng = random.Random(seed)  # noqa: S311 - a reproducible mix, not cryptography
        self.authorized: deque[str] = deque()
        self.done: list[_Sent] = []
        self.refunds = 0
        self.kinds, weights = zip(*self.WEIGHTS, strict=True)
        self.weights = list(weights)

    def _plan(self, number: int) -> tuple[str, str, dict[str, Any], int, bool]:
        kind = self.rng.choices(self.kinds, self.weights)[0]
        key = f"{self.prefix}-{number}"
        if kind == "replay" and self.done:
            sent = self.rng.choice(self.done)
            return sent.path, sent.key, sent.body, sent.status, True
        if kind == "capture" and self.authorized:
            body = {"transaction_id": self.authorized.popleft(), "amount": 1000}
            return "capture", key, body, 201, False
        if kind == "refund" and self.settled:
            parent = self.settled[self.refunds % len(self.settled)]
            self.refunds += 1
            body = {"transaction_id": parent, "amount": REFUND_AMOUNT, "reason": "returned"}
            return "refund", key, body, 201, False
        if kind == "decline":
            return "purchase", key, DECLINE, 402, False
        if kind in {"authorize", "capture"}:
            return "authorize", key, PURCHASE, 201, False
        return "purchase", key, PURCHASE, 201, False

    async def send(self, http: httpx.AsyncClient, number: int) -> bool:
        path, key, body, expected, replay = self._plan(number)
        response = await http.post(
            f"{PAYMENTS}/{path}", json=body, headers={"Idempotency-Key": key}
        )
        if replay:
            return _ok(response.status_code, expected, strict=self.strict) and (
                not self.strict
                or response.headers.get("Idempotent-Replayed") == "true"
                or response.status_code >= 400  # an error answer is replayed as it was
            )
        ok = _ok(response.status_code, expected, strict=self.strict)
        if ok:
            if path == "authorize":
                self.authorized.append(response.json()["id"])
            self.done.append(_Sent(path, key, body, expected))
        return ok


async def webhook_bodies(settings: Settings, n: int) -> list[bytes]:
    """N notifications as the simulator writes them (each with its own id) about
    the charges it has made, cycling through them; the gateway matches each to
    its transaction and asks the simulator for the truth, as it would in life."""
    resources = api_resources(settings)
    try:
        async with resources.session_factory() as session:
            statement = (
                select(SimulatorTransaction)
                .where(SimulatorTransaction.kind == Kind.PURCHASE.value)
                .limit(max(1, min(n, 1000)))
            )
            rows = list((await session.execute(statement)).scalars())
    finally:
        await resources.aclose()
    if not rows:
        raise RuntimeError("no simulator charges to notify about: run purchases first")
    now = datetime.now(UTC)
    return [
        body_of(
            EventType.AUTHCAPTURE,
            rows[number % len(rows)],
            notification_id=str(uuid.uuid4()),
            outcome=Outcome.APPROVED,
            amount=rows[number % len(rows)].amount,
            now=now,
        )
        for number in range(n)
    ]


def webhooks(bodies: list[bytes], key: str) -> Send:
    """Each body posted once, signed as Authorize.Net signs (the signature is the
    sender's work, made before the clock starts)."""
    signed = [(body, sign(body, key)) for body in bodies]

    async def send(http: httpx.AsyncClient, number: int) -> bool:
        body, signature = signed[number % len(signed)]
        response = await http.post(
            WEBHOOKS,
            content=body,
            headers={"Content-Type": "application/json", HEADER: signature},
        )
        return response.status_code == 200

    return send
