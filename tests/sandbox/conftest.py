"""`gateway sandbox serve` for real: uvicorn on a free loopback port, in a thread
with its own event loop, on a database created for the test run."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from sqlalchemy.engine import make_url

from gateway.composition.sandbox import open_sandbox
from gateway.core.devsecrets import with_development_secrets
from gateway.core.settings import Settings, load_settings
from gateway.processors.authorize_net.client import AuthorizeNetClient
from gateway.processors.authorize_net.messages import MerchantAuthentication
from gateway.sandbox import server
from gateway.sandbox.config import SandboxConfig, sandbox_config
from tests.fixtures.database import _admin
from tests.fixtures.services import Services
from tests.support import closed_port, run_in_thread


@dataclass(frozen=True)
class RunningSandbox:
    settings: Settings
    config: SandboxConfig
    base_url: str

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/xml/v1/request.api"

    @property
    def auth(self) -> MerchantAuthentication:
        return MerchantAuthentication(
            name=self.config.login_id, transaction_key=self.config.transaction_key
        )

    @property
    def basic_auth(self) -> tuple[str, str]:
        return self.config.login_id, self.config.transaction_key


def sandbox_settings(database_url: str, **environ: str) -> Settings:
    values = {
        "GATEWAY_ENV": "test",
        "GATEWAY_SANDBOX_DATABASE_URL": database_url,
        "GATEWAY_SANDBOX_WEBHOOK_URL": "",
        **environ,
    }
    return with_development_secrets(load_settings(values))


@pytest.fixture(scope="session")
def sandbox_database_url(services: Services) -> Iterator[str]:
    """Not created here: the sandbox creates its database when absent."""
    name = f"gateway_sandbox_test_{secrets.token_hex(4)}"
    admin = services.postgres_admin_url
    yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    run_in_thread(
        lambda: asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    )


@pytest.fixture(scope="session")
def sandbox(sandbox_database_url: str) -> Iterator[RunningSandbox]:
    port = closed_port()
    settings = sandbox_settings(sandbox_database_url, GATEWAY_SANDBOX_PORT=str(port))
    config = sandbox_config(settings)
    started = threading.Event()
    running: list[uvicorn.Server] = []
    failure: list[BaseException] = []

    async def main() -> None:
        async with open_sandbox(settings, config) as process:
            served = server.server(process.app, config.port)
            running.append(served)
            task = asyncio.create_task(server.serve(served))
            while not served.started and not task.done():  # noqa: ASYNC110 - uvicorn's flag
                await asyncio.sleep(0.01)
            started.set()
            await task

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            failure.append(error)
        finally:
            started.set()

    thread = threading.Thread(target=run, name="sandbox", daemon=True)
    thread.start()
    assert started.wait(60), "the sandbox did not start"
    if failure:
        raise failure[0]
    yield RunningSandbox(settings=settings, config=config, base_url=f"http://127.0.0.1:{port}")
    running[0].should_exit = True
    thread.join(15)


@pytest.fixture
async def client(sandbox: RunningSandbox) -> AsyncIterator[AuthorizeNetClient]:
    """The connector's own HTTP client, with a short read timeout: a dropped
    connection is seen at once, a held one would be a slow test."""
    async with AuthorizeNetClient(
        sandbox.api_url, connect_timeout_s=2, read_timeout_s=5
    ) as connector_client:
        yield connector_client
