"""Helpers for the payments API tests: a payments key and a way to post."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from gateway.merchants.scopes import Scope
from tests.fixtures.merchants import KeyFactory

VISA = "4111111111111111"
TRIGGER_CARD = "4222222222222"

Post = Callable[..., Awaitable[httpx.Response]]

_keys = itertools.count(1)


def charge_body(
    amount: int = 1500, *, number: str = VISA, cvv: str = "123", **extra: Any
) -> dict[str, Any]:
    return {
        "amount": amount,
        "currency": "USD",
        "payment_method": {
            "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvv": cvv}
        },
        **extra,
    }


@pytest.fixture
async def payments_key(make_key: KeyFactory) -> str:
    return await make_key(Scope.PAYMENTS_READ, Scope.PAYMENTS_WRITE)


@pytest.fixture
def post(client: httpx.AsyncClient, payments_key: str) -> Post:
    """POST with the payments key and a fresh Idempotency-Key unless one is given."""

    async def send(
        path: str, body: Any, *, key: str | None = None, api_key: str | None = None
    ) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {api_key or payments_key}",
            "Idempotency-Key": key or f"test-key-{next(_keys)}",
        }
        return await client.post(f"/api/v1/payments/{path}", json=body, headers=headers)

    return send


@pytest.fixture
def get(client: httpx.AsyncClient, payments_key: str) -> Callable[..., Awaitable[httpx.Response]]:
    async def fetch(path: str = "", **params: str) -> httpx.Response:
        return await client.get(
            f"/api/v1/payments{path}",
            params=params,
            headers={"Authorization": f"Bearer {payments_key}"},
        )

    return fetch
