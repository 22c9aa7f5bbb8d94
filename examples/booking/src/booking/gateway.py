"""The gateway's public HTTP API, as this merchant uses it (API.md): nothing else
of the gateway is imported or reached.

Every money-moving call carries an Idempotency-Key derived from the booking, so
sending it again (after a crash, a timeout, from the sweep or a webhook) gets
the first answer back instead of a second charge. Answers that mean "not now"
(the key still in flight, rate limited, the processor or the gateway down, no
connection at all) raise `TryLater`: the booking stays as it is and the same
request is sent again later with the same key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

_TRY_LATER_STATUSES = frozenset({429, 500, 503})


class TryLater(Exception):
    """The gateway could not decide now; the same request may be sent again."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool

    @property
    def code(self) -> str | None:
        code = self.body.get("code")
        return code if isinstance(code, str) else None


def hold_key(hold_id: str, step: str) -> str:
    """The Idempotency-Key of one step of one booking: the same on every attempt."""
    return f"{hold_id}:{step}"


class Gateway:
    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 30) -> None:
        self._client = httpx.AsyncClient(
            base_url=f"{base_url}/api/v1",
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout_s,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _send(
        self, method: str, path: str, *, json: dict[str, Any] | None = None, key: str | None = None
    ) -> Answer:
        headers = {"Idempotency-Key": key} if key else {}
        try:
            response = await self._client.request(method, path, json=json, headers=headers)
        except httpx.TransportError as error:
            raise TryLater(f"{method} {path}: {type(error).__name__}") from error
        body = response.json() if response.content else {}
        answer = Answer(
            response.status_code,
            body if isinstance(body, dict) else {"data": body},
            response.headers.get("Idempotent-Replayed") == "true",
        )
        if answer.status in _TRY_LATER_STATUSES or answer.code == "idempotency_key_in_use":
            raise TryLater(f"{method} {path}: {answer.status} {answer.code}")
        return answer

    async def tokenize(self, card: dict[str, Any], *, key: str) -> Answer:
        return await self._send("POST", "/payment-methods", json={"card": card}, key=key)

    async def authorize(
        self, *, token: str, amount: int, currency: str, order_id: str, key: str
    ) -> Answer:
        body = {
            "amount": amount,
            "currency": currency,
            "payment_method": {"token": token},
            "order_id": order_id,
            "description": "seat booking",
        }
        return await self._send("POST", "/payments/authorize", json=body, key=key)

    async def capture(self, authorization_id: str, *, key: str) -> Answer:
        body = {"transaction_id": authorization_id}
        return await self._send("POST", "/payments/capture", json=body, key=key)

    async def cancel(self, authorization_id: str, *, key: str) -> Answer:
        body = {"transaction_id": authorization_id}
        return await self._send("POST", "/payments/cancel", json=body, key=key)

    async def payment(self, transaction_id: str) -> Answer:
        return await self._send("GET", f"/payments/{transaction_id}")

    async def payments_for_order(self, order_id: str) -> list[dict[str, Any]]:
        """Every transaction the gateway holds for this order (our hold's id)."""
        answer = await self._send("GET", f"/payments?order_id={order_id}&limit=100")
        data = answer.body.get("data", [])
        return [item for item in data if isinstance(item, dict)]

    async def webhook_endpoints(self) -> list[dict[str, Any]]:
        answer = await self._send("GET", "/webhook-endpoints?limit=100")
        data = answer.body.get("data", [])
        return [item for item in data if isinstance(item, dict)]

    async def create_webhook_endpoint(self, url: str, events: list[str]) -> Answer:
        body = {"url": url, "events": events, "description": "booking example"}
        return await self._send("POST", "/webhook-endpoints", json=body)

    async def rotate_webhook_secret(self, endpoint_id: str) -> Answer:
        return await self._send("POST", f"/webhook-endpoints/{endpoint_id}/rotate-secret")
