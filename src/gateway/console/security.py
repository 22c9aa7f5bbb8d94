"""The console's session cookie and CSRF tokens, both keyed by GATEWAY_CONSOLE_SECRET.

The session is Litestar's client-side cookie backend: AES-GCM with a key derived
from the secret, so the cookie is both unreadable and unforgeable; it carries the
operator's id and when they signed in, nothing else. CSRF is Litestar's
double-submit token (a signed cookie and a hidden field on every form).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from litestar.config.csrf import CSRFConfig
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.middleware.session.base import SessionMiddleware
from litestar.middleware.session.client_side import ClientSideSessionBackend, CookieBackendConfig
from litestar.types import ASGIApp

from gateway.core.settings import Settings

CONSOLE_PATH: Final = "/console"
SESSION_COOKIE: Final = "gateway_console"
CSRF_COOKIE: Final = "gateway_console_csrf"
CSRF_FIELD: Final = "_csrf_token"


def _derived(settings: Settings, purpose: str) -> bytes:
    """One key per purpose from the one secret (HMAC-SHA256 as a KDF), so the
    session key never doubles as the CSRF key."""
    secret = settings.console.secret
    if not secret:
        raise RuntimeError("GATEWAY_CONSOLE_SECRET is unset: fill development secrets first")
    return hmac.new(secret.encode(), f"gateway-console:{purpose}".encode(), hashlib.sha256).digest()


def session_config(settings: Settings) -> CookieBackendConfig:
    return CookieBackendConfig(
        secret=_derived(settings, "session"),
        key=SESSION_COOKIE,
        path=CONSOLE_PATH,
        max_age=int(settings.console.session_hours * 3600),
        httponly=True,
        secure=settings.is_production,
        samesite="strict",
    )


def _session_middleware(app: ASGIApp, settings: Settings) -> ASGIApp:
    """Built when the app is: Litestar deep-copies a router and its middleware
    definitions, and the cookie backend's cipher cannot be copied."""
    return SessionMiddleware(
        app=app, backend=ClientSideSessionBackend(config=session_config(settings))
    )


def session_middleware(settings: Settings) -> DefineMiddleware:
    return DefineMiddleware(_session_middleware, settings=settings)


def csrf_middleware(settings: Settings) -> DefineMiddleware:
    config = CSRFConfig(
        secret=_derived(settings, "csrf").hex(),
        cookie_name=CSRF_COOKIE,
        cookie_path=CONSOLE_PATH,
        header_name="x-csrftoken",
        cookie_secure=settings.is_production,
        cookie_httponly=True,
        cookie_samesite="strict",
    )
    return DefineMiddleware(CSRFMiddleware, config=config)
