"""Shared builders for the Authorize.Net wire tests."""

from __future__ import annotations

import json
from typing import Any

from gateway.processors.authorize_net import schema
from gateway.processors.authorize_net.messages import MerchantAuthentication, Request
from gateway.processors.authorize_net.wire import encode
from gateway.processors.port import Address, Card, ChargeRequest

AUTH = MerchantAuthentication(name="login1234", transaction_key="0123456789abcdef")
USD = frozenset({"USD"})
REFERENCE = "txn_01J5Z8Q4W7X2K9M3"

CARD = Card(
    number="4111111111111111", exp_month=3, exp_year=2031, cvv="123", holder_name="Ada B Lovelace"
)
ADDRESS = Address(
    line1="1 Main St", line2="Apt 4", city="Bellevue", state="WA", postal_code="98004", country="US"
)  # fmt: skip


def charge_request(**changes: Any) -> ChargeRequest:
    fields: dict[str, Any] = {
        "reference": REFERENCE,
        "amount": 1500,
        "currency": "USD",
        "card": CARD,
        "billing_address": ADDRESS,
        "customer_id": "cust-42",
        "customer_email": "ada@example.com",
        "description": "Order 42",
    }
    fields.update(changes)
    return ChargeRequest(**fields)


def body(request: Request) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(encode(request))
    return parsed


def assert_xsd_order(node: dict[str, Any], xsd_type: str) -> None:
    """Every object's keys are elements of its XSD type (`schema`) and come in
    its order, all the way down; no key is null."""
    expected = schema.order(xsd_type)
    keys = list(node)
    unknown = [key for key in keys if key not in expected]
    assert not unknown, f"{xsd_type}: {unknown} are not elements of the type"
    assert keys == sorted(keys, key=expected.index), f"{xsd_type}: {keys} out of XSD order"
    for key, value in node.items():
        assert value is not None, f"{xsd_type}.{key} is null: absent fields must be omitted"
        element = schema.child(xsd_type, key)
        assert element is not None
        children = value if isinstance(value, list) else [value]
        for child in children:
            if isinstance(child, dict):
                assert not element.scalar, f"{xsd_type}.{key} is text in the XSD"
                assert_xsd_order(child, element.type)


def assert_request_order(request: Request) -> dict[str, Any]:
    encoded = body(request)
    assert list(encoded) == [request.root]
    assert_xsd_order(encoded[request.root], request.root)
    inner: dict[str, Any] = encoded[request.root]
    return inner
