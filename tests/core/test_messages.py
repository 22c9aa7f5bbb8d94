"""Messages a client reads (issue 19 point 9): scopes named by value, an empty
body's plain answer, ids never masked as card numbers, one title per code."""

from __future__ import annotations

import httpx
import pytest

import gateway.app  # noqa: F401  (loads every domain's error classes)
from gateway.core.errors import GatewayError
from gateway.core.problems import PROBLEM_KINDS, problem_document, problem_of
from gateway.merchants.scopes import Scope
from tests.fixtures.merchants import KeyFactory
from tests.fixtures.payments import charge_body


def _error_classes(base: type[GatewayError] = GatewayError) -> list[type[GatewayError]]:
    found: list[type[GatewayError]] = []
    for sub in base.__subclasses__():
        found += [sub, *_error_classes(sub)]
    return found


@pytest.mark.parametrize("code", sorted(PROBLEM_KINDS))
def test_every_code_has_one_title_and_status(code: str) -> None:
    body = problem_document(code=code, detail="x")
    assert (body["status"], body["title"]) == PROBLEM_KINDS[code]
    assert body["type"] == f"urn:gateway:problem:{code}"


def test_every_error_class_answers_its_codes_title() -> None:
    classes = _error_classes()
    assert len(classes) > 10
    for error_class in classes:
        assert error_class.code in PROBLEM_KINDS, error_class
        assert "title" not in vars(error_class), f"{error_class} words its own title"
        problem = problem_of(error_class("detail"))
        assert problem["title"] == PROBLEM_KINDS[error_class.code].title
    titles = [kind.title for kind in PROBLEM_KINDS.values()]
    assert len(set(titles)) == len(titles)


@pytest.mark.parametrize(
    "detail",
    [
        "No transaction 1234567890123452.",  # 16 digits, Luhn-valid, no brand
        "No transaction txn_06H012EF380RQHN8.",
        "No payment method pm_4000056655665556.",  # a Visa-shaped run inside an id
        "No webhook event 40000566556655.",  # a processor's id: no brand length
    ],
)
def test_ids_in_details_are_never_masked(detail: str) -> None:
    assert problem_document(code="not_found", detail=detail)["detail"] == detail


def test_a_card_number_in_a_detail_is_masked() -> None:
    body = problem_document(code="not_found", detail="No transaction 4000 0566 5566 5556.")
    assert body["detail"] == "No transaction [CARD ...5556]."


async def test_a_403_names_the_scope_by_value(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    key = await make_key(Scope.PAYMENTS_READ)
    response = await client.post(
        "/api/v1/payments/purchase",
        json=charge_body(),
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "scope-words"},
    )
    assert response.status_code == 403
    assert response.json()["detail"] == "This API key lacks the scope payments:write."


async def test_an_empty_body_asks_for_a_json_object_and_a_404_shows_the_id(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    key = await make_key(Scope.PAYMENTS_READ, Scope.PAYMENTS_WRITE, Scope.WEBHOOKS_ADMIN)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    keyed = await client.post(
        "/api/v1/payments/purchase", content=b"", headers={**headers, "Idempotency-Key": "e"}
    )
    refund = await client.post(
        "/api/v1/payments/refund", content=b"", headers={**headers, "Idempotency-Key": "f"}
    )
    unkeyed = await client.patch(
        "/api/v1/webhook-endpoints/wep_0000000000000000", content=b"", headers=headers
    )
    for response in (keyed, refund, unkeyed):
        assert response.status_code == 400, response.text
        problem = response.json()
        assert problem["detail"] == "body: a JSON object is required"
        assert problem["errors"] == [{"field": "body", "message": "a JSON object is required"}]
        assert problem["title"] == PROBLEM_KINDS["validation_error"].title
    missing = await client.get(
        "/api/v1/payments/1234567890123452", headers={"Authorization": headers["Authorization"]}
    )
    assert missing.status_code == 404
    assert "1234567890123452" in missing.json()["detail"]
    assert missing.json()["title"] == PROBLEM_KINDS["not_found"].title
