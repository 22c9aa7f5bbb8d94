"""The gateway's public HTTP API as the saga uses it. Every step sends the same
body with the same Idempotency-Key (`<order id>:<step>`) however often it is
repeated, so a repeat gets the first answer (`Idempotent-Replayed: true`)
instead of a second charge, refund or void."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

_TRY_LATER_STATUSES = frozenset({429, 500, 503})


class TryLater(Exception):
    """Not decided now: the same request is sent again by the recovery loop."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool


class Gateway:
    def __init__(self, base_url: str, api_key: str) -> None:
        self._client = httpx.AsyncClient(
            base_url=f"{base_url}/api/v1",
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=30,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, key: str | None = None
    ) -> Answer:
        headers = {"Idempotency-Key": key} if key else {}
        try:
            response = await self._client.request(method, path, json=body, headers=headers)
        except httpx.TransportError as error:
            raise TryLater(f"{method} {path}: {type(error).__name__}") from error
        parsed = response.json() if response.content else {}
        answer = Answer(
            response.status_code,
            parsed if isinstance(parsed, dict) else {},
            response.headers.get("Idempotent-Replayed") == "true",
        )
        if answer.status in _TRY_LATER_STATUSES or (
            answer.body.get("code") == "idempotency_key_in_use"
        ):
            raise TryLater(f"{method} {path}: {answer.status} {answer.body.get('code')}")
        return answer
