"""The request's session commits at the edge: on success only."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import get, post
from litestar.di import NamedDependency
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gateway.app import create_app
from gateway.composition.resources import Resources
from gateway.core.settings import Settings
from gateway.merchants.auth import ANY_KEY, SCOPE_OPT
from tests.support import http_client


@post("/test/probes/keep", opt={SCOPE_OPT: ANY_KEY})
async def keep(db_session: NamedDependency[AsyncSession]) -> None:
    await db_session.execute(text("INSERT INTO edge_probe (note) VALUES ('kept')"))


@post("/test/probes/fail", opt={SCOPE_OPT: ANY_KEY})
async def fail(db_session: NamedDependency[AsyncSession]) -> None:
    await db_session.execute(text("INSERT INTO edge_probe (note) VALUES ('lost')"))
    raise RuntimeError("boom after writing")


@get("/test/probes", opt={SCOPE_OPT: ANY_KEY})
async def count(db_session: NamedDependency[AsyncSession]) -> dict[str, list[str]]:
    rows = await db_session.execute(text("SELECT note FROM edge_probe ORDER BY note"))
    return {"notes": list(rows.scalars())}


@pytest.fixture
async def probe_client(
    settings: Settings,
    resources: Resources,
    db_connection: AsyncConnection,
    admin_headers: dict[str, str],
) -> AsyncIterator[httpx.AsyncClient]:
    # Created inside the test's outer transaction, so it vanishes with it.
    await db_connection.execute(text("CREATE TABLE edge_probe (note text NOT NULL)"))
    app = create_app(settings, resources=resources, extra_routes=[keep, fail, count])
    async with http_client(app, admin_headers) as client:
        yield client


async def test_a_successful_request_commits(probe_client: httpx.AsyncClient) -> None:
    assert (await probe_client.post("/test/probes/keep")).status_code == 201
    assert (await probe_client.get("/test/probes")).json() == {"notes": ["kept"]}


async def test_a_failing_request_rolls_back_everything_it_wrote(
    probe_client: httpx.AsyncClient,
) -> None:
    response = await probe_client.post("/test/probes/fail")
    assert response.status_code == 500
    assert (await probe_client.get("/test/probes")).json() == {"notes": []}
