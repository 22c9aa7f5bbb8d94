"""What `gateway sandbox serve` runs with, worked out once from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy.engine import make_url

from gateway.core.addresses import own_url
from gateway.core.settings import Settings

WEBHOOK_PATH: Final = "/api/v1/webhooks/authorize-net"
SUFFIX: Final = "_sandbox"


class SandboxRefused(Exception):
    """The sandbox must not run here (production), or lacks what it needs."""


@dataclass(frozen=True, repr=False)
class SandboxConfig:
    port: int
    login_id: str
    transaction_key: str
    database_url: str
    webhook_url: str | None  # None: no webhooks
    signature_key: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/xml/v1/request.api"

    def __repr__(self) -> str:  # never the key, the database password or the signature key
        return f"SandboxConfig(port={self.port}, login_id={self.login_id!r})"


def sandbox_config(settings: Settings) -> SandboxConfig:
    """Raises SandboxRefused in production or without credentials (development
    secrets fill them in; see `core.devsecrets`)."""
    if settings.is_production:
        raise SandboxRefused("the sandbox is for development and tests: refused in production")
    sandbox = settings.sandbox
    if not (sandbox.login_id and sandbox.transaction_key):
        raise SandboxRefused("GATEWAY_SANDBOX_LOGIN_ID and GATEWAY_SANDBOX_TRANSACTION_KEY unset")
    keys = settings.processor.authorize_net_signature_keys or ()
    signature_key = sandbox.signature_key or (keys[0] if keys else "")
    webhook_url = _webhook_url(settings)
    if webhook_url is not None and not signature_key:
        raise SandboxRefused("no signature key: set GATEWAY_SANDBOX_SIGNATURE_KEY")
    return SandboxConfig(
        port=sandbox.port,
        login_id=sandbox.login_id,
        transaction_key=sandbox.transaction_key,
        database_url=sandbox.database_url or default_database_url(settings),
        webhook_url=webhook_url,
        signature_key=signature_key,
    )


def default_database_url(settings: Settings) -> str:
    """`<gateway database>_sandbox` on the gateway's own server."""
    if settings.database.url is None:
        raise SandboxRefused("no database: set GATEWAY_SANDBOX_DATABASE_URL or DATABASE_URL")
    url = make_url(settings.database.url)
    name = f"{url.database or 'gateway'}{SUFFIX}"
    return url.set(database=name).render_as_string(hide_password=False)


def _webhook_url(settings: Settings) -> str | None:
    configured = settings.sandbox.webhook_url
    if configured is not None:
        return configured.strip() or None
    return own_url(settings, WEBHOOK_PATH)
