"""Operators and a signed-in console client, on the app the API tests use."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.console.service import OperatorService, Role
from gateway.core.clock import FrozenClock

ADMIN_EMAIL = "ada@example.test"
VIEWER_EMAIL = "vic@example.test"
PASSWORD = "correct horse battery"

_TOKEN = re.compile(r'name="_csrf_token" value="([^"]+)"')

SignIn = Callable[[str, str], Awaitable[httpx.Response]]


def csrf_token(html: str) -> str:
    match = _TOKEN.search(html)
    assert match is not None, "the page has no CSRF field"
    return match.group(1)


@pytest.fixture
async def operators(db_session: AsyncSession, clock: FrozenClock) -> dict[str, str]:
    service = OperatorService(db_session, clock)
    admin = await service.create(ADMIN_EMAIL, Role.ADMIN, PASSWORD)
    viewer = await service.create(VIEWER_EMAIL, Role.VIEWER, PASSWORD)
    await db_session.flush()
    return {"admin": admin.id, "viewer": viewer.id}


@pytest.fixture
def sign_in(client: httpx.AsyncClient, operators: dict[str, str]) -> SignIn:
    async def submit(email: str, password: str) -> httpx.Response:
        page = await client.get("/console/login")
        assert page.status_code == 200
        return await client.post(
            "/console/login",
            data={"email": email, "password": password, "_csrf_token": csrf_token(page.text)},
        )

    return submit
