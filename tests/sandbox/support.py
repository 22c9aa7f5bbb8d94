"""Builders for the sandbox's tests: requests as the connector's build.py makes them."""

from __future__ import annotations

import secrets
from typing import Any

from gateway.processors.port import Address, Card, ChargeRequest

USD = frozenset({"USD"})
VISA = Card(number="4111111111111111", exp_month=12, exp_year=2031, cvv="123", holder_name="Ada L")
BY_AMOUNT = Card(number="4222222222222", exp_month=12, exp_year=2031)


def reference() -> str:
    return f"txn_{secrets.token_hex(8)}"


def address(postal_code: str = "98004") -> Address:
    return Address(line1="1 Main St", city="Bellevue", postal_code=postal_code, country="US")


def charge(**changes: Any) -> ChargeRequest:
    fields: dict[str, Any] = {
        "reference": reference(),
        "amount": 1500,
        "currency": "USD",
        "card": VISA,
        "billing_address": address(),
    }
    fields.update(changes)
    return ChargeRequest(**fields)
