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
