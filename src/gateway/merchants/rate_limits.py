"""Rate limits of API keys (API.md "Rate limits"): per key after authentication,
reads and writes on separate budgets; failed authentications per client address.

The limiter runs as a guard, before any dependency: a request it refuses has
claimed no Idempotency-Key and touched nothing.
"""

from __future__ import annotations

from typing import Any, Final

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from gateway.composition.resources import Resources
from gateway.core.client_address import client_address
from gateway.core.rate_limit_settings import RateLimitSettings
from gateway.core.rate_limits import Kind, Policy, RateLimiter
from gateway.core.settings import Settings
from gateway.merchants.principal import Principal

READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


def key_policy(principal: Principal, method: str, settings: RateLimitSettings) -> Policy:
    """The merchant's own rate if set, else the deployment's for the key's mode."""
    default = (
        settings.rate_limit_live_per_s if principal.livemode else settings.rate_limit_test_per_s
    )
    kind: Kind = "read" if method.upper() in READ_METHODS else "write"
    return Policy.per_second(kind, principal.rate_limit or default)


def failed_auth_policy(settings: RateLimitSettings) -> Policy:
    return Policy.per_minute("failed_auth", settings.rate_limit_failed_auth_per_min)


def limiter_of(connection: ASGIConnection[Any, Any, Any, Any]) -> RateLimiter | None:
    resources: Resources = connection.app.state.resources
    return resources.rate_limiter


def settings_of(connection: ASGIConnection[Any, Any, Any, Any]) -> RateLimitSettings:
    settings: Settings = connection.app.state.settings
    return settings.rate_limits


def address_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return client_address(connection, settings_of(connection).trusted_proxies)


async def rate_limit_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    principal = connection.scope.get("user")
    limiter = limiter_of(connection)
    if not isinstance(principal, Principal) or limiter is None:
        return  # a public route (inbound webhooks limit their own failures)
    method = str(connection.scope.get("method", "GET"))
    await limiter.hit(key_policy(principal, method, settings_of(connection)), principal.key_id)
