from __future__ import annotations

import httpx

from gateway import __version__


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
