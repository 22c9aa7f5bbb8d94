"""Authentication by API key, required by default, and the per-route scope guard.

Every route needs a key except those matched by `PUBLIC_PATHS`, the one list of
public routes. Every authenticated route declares its scope in `opt["scope"]`;
one that forgets is refused (fail closed).
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Headers
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware

from gateway.audit.service import Actor
from gateway.composition.resources import Resources
from gateway.core.errors import Forbidden, Unauthorized
from gateway.merchants.principal import Principal
from gateway.merchants.rate_limits import address_of, failed_auth_policy, limiter_of, settings_of
from gateway.merchants.scopes import Scope
from gateway.merchants.service import MerchantService

# The routes that need no API key (regular expressions on the path).
PUBLIC_PATHS: tuple[str, ...] = (
    r"^/schema",
    r"^/api/v1/health",
    r"^/api/v1/metrics$",
    r"^/api/v1/webhooks/(authorize-net|simulator)$",
    # The operator console signs its people in with a session cookie of its own.
    r"^/console(/|$)",
)

# `opt={"scope": ANY_KEY}`: any valid key, whatever its scopes.
ANY_KEY = "any"
SCOPE_OPT = "scope"


def api_key_from(headers: Headers) -> str | None:
    """`Authorization: Bearer <key>`, or `X-API-Key: <key>`."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else ""
    api_key = headers.get("x-api-key")
    return api_key.strip() if api_key is not None else None


class ApiKeyAuthentication(AbstractAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        # An address over its failures is refused before its key is looked at, so a
        # guess that happens to be right cannot be told from a wrong one.
        limiter = limiter_of(connection)
        policy = failed_auth_policy(settings_of(connection))
        address = address_of(connection)
        if limiter is not None:
            await limiter.check(policy, address)
        try:
            principal = await self._principal(connection)
        except Unauthorized:
            if limiter is not None:
                await limiter.hit(policy, address)
            raise
        return AuthenticationResult(user=principal, auth=principal.key_id)

    @staticmethod
    async def _principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
        secret = api_key_from(connection.headers)
        if not secret:
            raise Unauthorized("An API key is required: Authorization: Bearer <key>.")
        resources: Resources = connection.app.state.resources
        async with resources.session_factory() as session:
            principal = await MerchantService(session, resources.clock).authenticate(secret)
            await session.commit()  # the throttled last_used_at write
        return principal


def authentication_middleware() -> DefineMiddleware:
    return DefineMiddleware(ApiKeyAuthentication, exclude=list(PUBLIC_PATHS))


def scope_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal):
        return  # a public route: the middleware let it through without a key
    required = handler.opt.get(SCOPE_OPT)
    if required == ANY_KEY:
        return
    if required is None:
        raise Forbidden("This route declares no scope and is closed to every key.")
    scope = Scope(required)
    if not principal.can(scope):
        # Named by value ("admin"): an enum's repr is not the client's vocabulary.
        raise Forbidden(f"This API key lacks the scope {scope.value}.")


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    principal = request.scope.get("user")
    if not isinstance(principal, Principal):
        raise Unauthorized("An API key is required.")
    return principal


def api_actor(request: Request[Any, Any, Any]) -> Actor:
    """The actor of a change made through the API: the key, the request, the client."""
    principal = provide_principal(request)
    return Actor(
        kind="api",
        request_id=request.scope.get("state", {}).get("request_id"),
        api_key_id=principal.key_id,
        ip_address=request.client.host if request.client else None,
    )
