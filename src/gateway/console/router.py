"""The console under /console: its routes behind the operator guard, its session
and CSRF middleware, its own error pages, and its templates (package data)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from litestar import Request, Response, Router
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig

from gateway.console.auth import NotSignedIn, operator_guard, provide_operator
from gateway.console.pages import page
from gateway.console.routes.merchants import MerchantPages
from gateway.console.routes.operations import OperationsPages
from gateway.console.routes.payments import PaymentPages
from gateway.console.routes.session import SessionController
from gateway.console.routes.webhooks import WebhookPages
from gateway.console.security import csrf_middleware, session_middleware
from gateway.core.errors import GatewayError
from gateway.core.money import CURRENCY_EXPONENTS
from gateway.core.problems import STATUS_BY_CODE
from gateway.core.settings import Settings

# The one route that needs no API key and no operator guard in merchants/auth.py's
# sense: the console authenticates its own way (a session cookie).
CONSOLE_PUBLIC_PATH = r"^/console"


def _money(amount: int | None, currency: str | None) -> str:
    if amount is None:
        return ""
    code = currency or "USD"
    exponent = CURRENCY_EXPONENTS.get(code, 2)
    if exponent == 0:
        return f"{amount} {currency}"
    units, minor = divmod(abs(amount), 10**exponent)
    sign = "-" if amount < 0 else ""
    return f"{sign}{units:,}.{minor:0{exponent}d} {currency}"


def console_templates() -> TemplateConfig[JinjaTemplateEngine]:
    environment = Environment(
        loader=PackageLoader("gateway.console", "templates"),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
    )
    environment.filters["money"] = lambda amount, currency=None: _money(amount, currency)
    environment.filters["when"] = lambda value: (
        value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else ""
    )
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


def _to_login(_: Request[Any, Any, Any], __: Exception) -> Response[Any]:
    return Redirect(path="/console/login", status_code=303)


def _refused(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """A forged form (no or a wrong CSRF token) or an action above the role."""
    detail = (
        error.detail
        if isinstance(error, GatewayError)
        else "The form's token is missing or wrong: reload the page."
    )
    return _error_page(request, 403, detail)


def _gateway_error(request: Request[Any, Any, Any], error: GatewayError) -> Response[Any]:
    return _error_page(request, STATUS_BY_CODE.get(error.code, 400), error.detail)


def _error_page(request: Request[Any, Any, Any], status: int, detail: str) -> Template:
    return page(request, "error.html", http_status=status, status_code=status, detail=detail)


def console_router(settings: Settings) -> Router:
    return Router(
        path="/",
        route_handlers=[
            SessionController,
            PaymentPages,
            WebhookPages,
            MerchantPages,
            OperationsPages,
        ],
        middleware=[session_middleware(settings), csrf_middleware(settings)],
        guards=[operator_guard],
        dependencies={"operator": Provide(provide_operator, sync_to_thread=False)},
        exception_handlers={
            NotSignedIn: _to_login,
            NotAuthorizedException: _to_login,
            PermissionDeniedException: _refused,
            GatewayError: _gateway_error,
        },
        include_in_schema=False,
    )
