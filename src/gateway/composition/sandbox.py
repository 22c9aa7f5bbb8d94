"""`gateway sandbox serve`'s process: its engine and the simulator it runs behind
Authorize.Net's wire, on the sandbox's own database and outage flag."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from gateway.composition.resources import database_engine
from gateway.core.clock import Clock, SystemClock
from gateway.core.settings import Settings
from gateway.processors.simulator import LocalOutage, Simulator, SimulatorConfig
from gateway.sandbox.app import SandboxApp
from gateway.sandbox.config import SandboxConfig
from gateway.sandbox.database import ensure_database, migrate
from gateway.sandbox.parts import Parts
from gateway.sandbox.poster import WebhookPoster
from gateway.sandbox.reads import SandboxReads
from gateway.sandbox.server import Background, periodically


def sandbox_engine(settings: Settings, config: SandboxConfig) -> AsyncEngine:
    """The sandbox's database, through the one engine factory of the composition root."""
    return database_engine(
        settings, pooled=True, url=config.database_url, application_name="gateway-sandbox"
    )


def sandbox_simulator(
    settings: Settings, config: SandboxConfig, *, engine: AsyncEngine, clock: Clock
) -> Simulator:
    """The simulator's rules and ledger, recording webhooks only when the sandbox
    posts them; its outage flag is the process's own (no gateway Redis)."""
    simulator_config = dataclasses.replace(
        SimulatorConfig.from_settings(settings), webhooks=config.webhook_url is not None
    )
    return Simulator(engine, None, clock, simulator_config, outage=LocalOutage())


@dataclasses.dataclass(frozen=True)
class SandboxProcess:
    app: SandboxApp
    simulator: Simulator
    engine: AsyncEngine
    poster: WebhookPoster | None  # None: GATEWAY_SANDBOX_WEBHOOK_URL set empty

    @property
    def background(self) -> tuple[Background, ...]:
        if self.poster is None:
            return ()
        return (
            periodically(
                self.poster.post_due, every_s=1.0, failure_event="sandbox.webhook_poster_failed"
            ),
        )


@contextlib.asynccontextmanager
async def open_sandbox(
    settings: Settings, config: SandboxConfig, *, clock: Clock | None = None
) -> AsyncIterator[SandboxProcess]:
    """The sandbox's database (created if absent, migrated) and its app; the
    engine is disposed when the block ends."""
    await ensure_database(config.database_url)
    engine = sandbox_engine(settings, config)
    client = httpx.AsyncClient(timeout=httpx.Timeout(10.0), trust_env=False)
    try:
        await migrate(engine)
        clock = clock or SystemClock()
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        simulator = sandbox_simulator(settings, config, engine=engine, clock=clock)
        parts = Parts(simulator=simulator, reads=SandboxReads(sessions), clock=clock)
        app = SandboxApp(parts, login_id=config.login_id, transaction_key=config.transaction_key)
        poster = None
        if config.webhook_url is not None:
            poster = WebhookPoster(
                sessions, clock, url=config.webhook_url, key=config.signature_key, client=client
            )
        yield SandboxProcess(app=app, simulator=simulator, engine=engine, poster=poster)
    finally:
        await client.aclose()
        await engine.dispose()
