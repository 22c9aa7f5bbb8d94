"""The connector's own HTTP client on the session's sandbox (tests/fixtures/sandbox.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.processors.authorize_net.client import AuthorizeNetClient
from tests.fixtures.sandbox import RunningSandbox


@pytest.fixture
async def client(sandbox: RunningSandbox) -> AsyncIterator[AuthorizeNetClient]:
    """The connector's own HTTP client, with a short read timeout: a dropped
    connection is seen at once, a held one would be a slow test."""
    async with AuthorizeNetClient(
        sandbox.api_url, connect_timeout_s=2, read_timeout_s=5
    ) as connector_client:
        yield connector_client
