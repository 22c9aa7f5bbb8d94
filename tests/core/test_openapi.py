from __future__ import annotations

import json
import re
from typing import Any, cast

import httpx
import pytest
from litestar.serialization import encode_json
from openapi_spec_validator import validate

from gateway import __version__
from gateway.app import create_app
from gateway.core.card_numbers import BRANDS
from gateway.core.ids import is_id
from gateway.payments.states import ChildStatus, ParentStatus, TransactionType
from gateway.subscriptions.states import InvoiceStatus, SubscriptionStatus
from gateway.webhooks.outbound.models import DELIVERY_STATUSES
from gateway.webhooks.schemas import EVENT_STATUSES
from tests.fixtures.app import make_settings


async def test_the_openapi_document_is_titled_and_versioned(client: httpx.AsyncClient) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "Payment Gateway API"
    assert document["info"]["version"] == __version__
    assert "/api/v1/health" in document["paths"]
    assert "/api/v1/health/live" in document["paths"]


async def test_an_interactive_ui_is_served_under_schema(client: httpx.AsyncClient) -> None:
    response = await client.get("/schema")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]


async def test_every_payment_route_documents_its_body_answers_and_errors(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    for operation in ("purchase", "authorize", "capture", "refund", "cancel"):
        post = paths[f"/api/v1/payments/{operation}"]["post"]
        assert "requestBody" in post
        answers = post["responses"]
        assert {"202", "400", "402", "409", "422", "502", "503"} <= answers.keys(), operation
        problem = answers["402"]["content"]["application/problem+json"]["schema"]
        assert problem == {"$ref": "#/components/schemas/Problem"}
    assert "/api/v1/payments/{transaction_id}" in paths


# Issue 19 point 8: an OpenAPI document a client can trust.

_METHODS = ("get", "post", "put", "patch", "delete")
_PUBLIC = ("/api/v1/health", "/api/v1/webhooks/authorize-net", "/api/v1/webhooks/simulator")
_MONEY_PREFIXES = ("/api/v1/payments", "/api/v1/subscriptions", "/api/v1/payment-methods")
_FILLER = re.compile(r"^[A-Za-z]{20}$")  # what Litestar's generated examples look like


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The document as /schema/openapi.json serves it, built once: making it takes
    seconds, and it needs no database (the app is never started)."""
    app = create_app(make_settings("postgresql+asyncpg://unused/unused", "redis://unused/0"))
    return cast("dict[str, Any]", json.loads(encode_json(app.openapi_schema.to_schema())))


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in _METHODS
    ]


def test_the_document_passes_the_openapi_spec_validator(document: dict[str, Any]) -> None:
    validate(document)


def test_every_money_post_requires_the_idempotency_key_header(document: dict[str, Any]) -> None:
    money = [
        (path, operation)
        for path, method, operation in _operations(document)
        if method == "post" and path.startswith(_MONEY_PREFIXES)
    ]
    assert len(money) == 7, [path for path, _ in money]  # 5 payments, subscriptions, methods
    for path, operation in money:
        headers = [p for p in operation["parameters"] if p["in"] == "header"]
        assert [(h["name"], h["required"]) for h in headers] == [("Idempotency-Key", True)], path
        assert headers[0]["schema"]["maxLength"] == 255


def test_every_authenticated_route_documents_its_problem_answers(document: dict[str, Any]) -> None:
    for path, method, operation in _operations(document):
        answers = operation["responses"]
        if not path.startswith(_PUBLIC):
            expected = {"400", "401", "403", "429"} | ({"404"} if "{" in path else set())
            assert expected <= answers.keys(), (method, path)
        if method == "post" and path.startswith(_MONEY_PREFIXES):
            assert {"402", "409", "413", "422", "502", "503"} <= answers.keys(), path
        for status, answer in answers.items():
            if int(status) < 400 or path == "/api/v1/health":
                continue
            content = answer["content"]
            assert list(content) == ["application/problem+json"], (method, path, status)
            schema = content["application/problem+json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}, (method, path, status)
            examples = content["application/problem+json"].get("examples", {})
            for example in examples.values():
                assert example["value"]["status"] == int(status), (method, path, status)


def test_every_429_and_503_declares_retry_after(document: dict[str, Any]) -> None:
    declared = 0
    for path, method, operation in _operations(document):
        for status in ("429", "503"):
            if status in operation["responses"]:
                header = operation["responses"][status].get("headers", {}).get("Retry-After")
                assert header is not None, (method, path, status)
                assert header["schema"] == {"type": "integer", "minimum": 0}
                declared += 1
    assert declared > 40  # every authenticated route's 429, every money POST's 503


def test_status_and_type_fields_are_enums(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]

    def enum(schema: str, field: str) -> set[str | None]:
        return set(schemas[schema]["properties"][field]["enum"])

    assert enum("TransactionOut", "type") == {t.value for t in TransactionType}
    assert {s.value for s in ParentStatus} | {s.value for s in ChildStatus} == enum(
        "TransactionOut", "status"
    )
    assert enum("SubscriptionOut", "status") == {s.value for s in SubscriptionStatus}
    assert enum("InvoiceOut", "status") == {s.value for s in InvoiceStatus}
    assert enum("DeliveryOut", "status") == set(DELIVERY_STATUSES)
    assert enum("WebhookEventOut", "status") == set(EVENT_STATUSES)
    assert enum("CardOut", "brand") == set(BRANDS)


def test_examples_are_real_values_not_random_filler(document: dict[str, Any]) -> None:
    found: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "examples":
                    found.extend(value.values() if isinstance(value, dict) else value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    text = json.dumps(found)
    strings = re.findall(r'"((?:[^"\\]|\\.)*)"', text)
    assert not [s for s in strings if _FILLER.match(s)], "random filler in an example"
    card = document["components"]["schemas"]["CardIn"]["properties"]["number"]
    assert card["examples"] == ["4111111111111111"]
    capture = document["components"]["schemas"]["CaptureIn"]["properties"]["transaction_id"]
    assert all(is_id(value, "txn") for value in capture["examples"])
    decline = document["paths"]["/api/v1/payments/purchase"]["post"]["responses"]["402"]
    [example] = decline["content"]["application/problem+json"]["examples"].values()
    assert is_id(example["value"]["transaction_id"], "txn")
    assert example["value"]["code"] == "card_declined"
