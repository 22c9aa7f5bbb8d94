"""A careful merchant's backend: every money-moving POST carries an Idempotency-Key
and is retried with the same key until it gets a final answer, whatever happens
to the gateway in between (connection refused, a dropped connection, 503, a key
still in flight); a 202 is followed up by replaying its key, the way API.md tells
a client to learn the outcome (a GET leaves no trace: under GATEWAY_ORPHAN_POLICY
`void` the charge of a client who only read it would be voided as an orphan)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

# What a careful client retries with the same key. 502 is final (the processor
# answered with an error); anything else in 5xx is a bug of the gateway's.
_RETRY_STATUSES = frozenset({409, 429, 503})
_PAYMENT_PATH = "/api/v1/payments"
# Problems that name a transaction, and the status they say it has.
_PROBLEM_STATUS = {"card_declined": "declined", "processor_error": "failed"}


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def transaction_id(self) -> str | None:
        found = self.body.get("transaction_id") or self.body.get("id")
        return found if isinstance(found, str) and found.startswith("txn_") else None

    @property
    def transaction_status(self) -> str | None:
        status = self.body.get("status")
        is_transaction = self.body.get("object") == "transaction"
        return status if isinstance(status, str) and is_transaction else None


@dataclass
class ClientLedger:
    """What the merchant saw: the evidence the audit holds against both ledgers."""

    # Idempotency-Key -> every transaction id an answer to it named.
    keys: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # Transaction id -> the last status an answer or a read showed.
    seen: dict[str, str] = field(default_factory=dict)
    retries: Counter[str] = field(default_factory=Counter)
    answers: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    gave_up: int = 0
    requests: int = 0

    def record(self, key: str | None, answer: Answer) -> None:
        transaction_id = answer.transaction_id
        if transaction_id is None:
            return
        if key is not None:
            self.keys[key].add(transaction_id)
        status = answer.transaction_status or _PROBLEM_STATUS.get(str(answer.body.get("code")))
        if status is not None:
            self.seen[transaction_id] = status


class CarefulMerchant:
    def __init__(
        self, client: httpx.AsyncClient, ledger: ClientLedger, *, give_up_s: float
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.give_up_s = give_up_s

    async def post(
        self, path: str, body: dict[str, Any], *, follow_up: bool = True
    ) -> Answer | None:
        """POST until a final answer; None when the gateway never gave one. A 202 is
        replayed until decided unless `follow_up` is False (a client that walked
        away: its charge is an orphan once reconciliation approves it)."""
        key = str(uuid.uuid4())
        self.ledger.requests += 1
        answer = await self._until_final(self._poster(path, body, key), key)
        if follow_up and answer is not None and answer.status == 202:
            return await self._follow_up(path, body, key, answer)
        return answer

    def _poster(
        self, path: str, body: dict[str, Any], key: str | None
    ) -> Callable[[], Awaitable[httpx.Response]]:
        headers = {} if key is None else {"Idempotency-Key": key}
        return lambda: self.client.post(path, json=body, headers=headers)

    async def send(self, path: str, body: dict[str, Any]) -> Answer | None:
        """A POST that takes no Idempotency-Key (test clocks), retried until final."""
        self.ledger.requests += 1
        return await self._until_final(self._poster(path, body, None), None)

    async def get(self, path: str) -> Answer | None:
        return await self._until_final(lambda: self.client.get(path), None)

    async def _follow_up(self, path: str, body: dict[str, Any], key: str, answer: Answer) -> Answer:
        """Replay a 202's key until it is decided or the merchant stops waiting
        (reconciliation decides it later; the audit checks it then)."""
        deadline = time.monotonic() + self.give_up_s
        while answer.status == 202 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            replayed = await self._until_final(self._poster(path, body, key), key)
            if replayed is None:
                break
            answer = replayed
        return answer

    async def read(self, transaction_id: str) -> Answer | None:
        return await self._until_final(
            lambda: self.client.get(f"{_PAYMENT_PATH}/{transaction_id}"), None
        )

    async def _until_final(
        self, send: Callable[[], Awaitable[httpx.Response]], key: str | None
    ) -> Answer | None:
        deadline = time.monotonic() + self.give_up_s
        pause = 0.1
        while time.monotonic() < deadline:
            try:
                response = await send()
            except httpx.TransportError as error:
                self.ledger.retries[type(error).__name__] += 1
                await asyncio.sleep(pause)
                pause = min(pause * 2, 1.0)
                continue
            answer = Answer(response.status_code, _json(response))
            self.ledger.answers[response.status_code] += 1
            if response.status_code in _RETRY_STATUSES and _retryable(answer):
                self.ledger.retries[f"{response.status_code} {answer.body.get('code')}"] += 1
                await asyncio.sleep(min(float(response.headers.get("Retry-After", "1")), 1.0))
                continue
            if response.status_code >= 500 and response.status_code != 502:
                self.ledger.server_errors.append(
                    f"{response.request.method} {response.request.url.path}"
                    f" -> {response.status_code} {answer.body.get('code')}"
                )
                return None
            self.ledger.record(key, answer)
            return answer
        self.ledger.gave_up += 1
        return None


def _retryable(answer: Answer) -> bool:
    # A 409 is retried only while the key is in flight; other 409s (a state
    # conflict) are final answers.
    return answer.status != 409 or answer.body.get("code") == "idempotency_key_in_use"


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
