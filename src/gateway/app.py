"""The Litestar application factory. Importing this module starts nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import structlog
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, Operation, SecurityScheme
from litestar.routes import HTTPRoute
from litestar.types import ControllerRouterHandler, Receive, Scope, Send

from gateway import __version__
from gateway.audit.monitoring import outbox_backlog
from gateway.composition.process import api_resources
from gateway.composition.processors import live_mode_notice
from gateway.composition.resources import Resources
from gateway.console.router import console_router, console_templates
from gateway.core.db import provide_db_session
from gateway.core.docs_ui import DOCS_PATH, docs_assets_router, docs_render_plugin
from gateway.core.health import HealthController
from gateway.core.hostile_input import refuse_unstorable_text
from gateway.core.logging import configure_logging
from gateway.core.metrics import (
    BACKLOG_TTL,
    DATABASE_GAUGES_STATE_KEY,
    ENCRYPTED_ROWS_TTL,
    DatabaseGauges,
    MetricsController,
    encrypted_rows,
    prometheus_config,
)
from gateway.core.openapi import GatewayOperation
from gateway.core.problems import exception_handlers
from gateway.core.request_context import RequestContextMiddleware
from gateway.core.response_headers import FixedResponseHeaders
from gateway.core.schemas import StrictBodyPlugin
from gateway.core.settings import Settings
from gateway.idempotency.http import provide_keyed_request
from gateway.merchants.auth import authentication_middleware, provide_principal, scope_guard
from gateway.merchants.dependencies import provide_merchant_service
from gateway.merchants.rate_limits import rate_limit_guard
from gateway.merchants.routes import ApiKeyController, MerchantController
from gateway.payments.dependencies import provide_payment_commands, provide_transaction_service
from gateway.payments.monitoring import payment_backlog
from gateway.payments.routes import PaymentController
from gateway.subscriptions.clocks.routes import TestClockController
from gateway.subscriptions.dependencies import (
    provide_subscription_changes,
    provide_subscription_service,
    subscription_commands,
)
from gateway.subscriptions.metrics import billing_gauges
from gateway.subscriptions.routes import SubscriptionController
from gateway.vault.dependencies import provide_payment_method_service, vault_commands
from gateway.vault.routes import PaymentMethodController
from gateway.webhooks.dependencies import provide_webhook_event_service
from gateway.webhooks.metrics import webhook_backlog
from gateway.webhooks.outbound.dependencies import provide_endpoint_service
from gateway.webhooks.outbound.metrics import delivery_gauges
from gateway.webhooks.outbound.routes import WebhookDeliveryController, WebhookEndpointController
from gateway.webhooks.routes import InboundWebhookController, WebhookEventController

_log = structlog.get_logger("gateway.app")

API_DESCRIPTION = (
    "Card payments, stored cards and subscriptions over Authorize.Net or the built-in "
    "simulator. Amounts are integers in the currency's minor unit. Errors are RFC 9457 "
    "problem details with a stable `code`."
)


class GatewayApp(Litestar):
    """Litestar, with the request context wrapped around routing itself.

    Litestar's middleware runs per route, so it never sees a 404 for an unknown
    path; request ids, the summary line and the fixed response headers must
    cover those too.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _complete_allow_headers(self)
        _document_every_operation(self)
        self._entry = RequestContextMiddleware(FixedResponseHeaders(super().__call__))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        await self._entry(scope, receive, send)


def _complete_allow_headers(app: Litestar) -> None:
    """Litestar builds a path's automatic OPTIONS answer for the first handler it
    registers and keeps it when more methods join that path, so `Allow` would
    omit them (`Allow: OPTIONS, POST` on a path that also answers GET). Point each
    automatic handler at the finished route, whose `methods` are complete."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "OPTIONS" not in route.route_handler_map:
            continue
        handler, _ = route.route_handler_map["OPTIONS"]
        function = handler.fn
        if getattr(function, "__name__", "") != "options_handler":
            continue
        for cell in getattr(function, "__closure__", None) or ():
            if isinstance(cell.cell_contents, HTTPRoute):
                cell.cell_contents = route


def _document_every_operation(app: Litestar) -> None:
    """Handlers that name no operation class of their own get the gateway's (its
    429 and 503 declare Retry-After); the document is built later, on demand."""
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                if handler.operation_class is Operation:
                    handler.operation_class = GatewayOperation


def api_routes() -> Sequence[ControllerRouterHandler]:
    """Every domain's routes; each domain package adds its controllers here."""
    return [
        HealthController,
        MerchantController,
        ApiKeyController,
        PaymentController,
        PaymentMethodController,
        SubscriptionController,
        TestClockController,
        InboundWebhookController,
        WebhookEventController,
        WebhookEndpointController,
        WebhookDeliveryController,
    ]


def database_gauges() -> list[DatabaseGauges]:
    """What /metrics counts in PostgreSQL, each domain's own, each cached a while."""
    return [
        DatabaseGauges("encrypted rows", encrypted_rows, ENCRYPTED_ROWS_TTL),
        DatabaseGauges("payments backlog", payment_backlog, BACKLOG_TTL),
        DatabaseGauges("outbox", outbox_backlog, BACKLOG_TTL),
        DatabaseGauges("webhook events", webhook_backlog, BACKLOG_TTL),
        DatabaseGauges("webhook deliveries", delivery_gauges, BACKLOG_TTL),
        DatabaseGauges("billing", billing_gauges, BACKLOG_TTL),
    ]


def create_app(
    settings: Settings,
    *,
    resources: Resources | None = None,
    extra_routes: Sequence[ControllerRouterHandler] = (),
) -> Litestar:
    """Build the API. `resources` lets tests lend their engine, sessions and Redis;
    without it the app makes its own at start-up and closes them at shutdown."""
    configure_logging(level=settings.core.log_level, json=_json_logs(settings))

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        own = resources is None
        app.state.resources = api_resources(settings) if own else resources
        notice = live_mode_notice(settings)
        if notice is not None:
            # An operator must see at once that live keys are refused, not find out
            # from merchants' 403s.
            _log.warning("api.live_mode_disabled", detail=notice)
        try:
            yield
        finally:
            if own:
                await app.state.resources.aclose()

    metrics = prometheus_config()
    # The operator console (issue 23): its own sessions, CSRF and pages.
    console = [console_router(settings)] if settings.console_enabled else []
    return GatewayApp(
        route_handlers=[
            *api_routes(),
            *extra_routes,
            *console,
            MetricsController,
            docs_assets_router(),
        ],
        template_config=console_templates() if console else None,
        lifespan=[lifespan],
        state=State({"settings": settings, DATABASE_GAUGES_STATE_KEY: database_gauges()}),
        dependencies={
            "db_session": Provide(provide_db_session),
            "principal": Provide(provide_principal, sync_to_thread=False),
            "merchant_service": Provide(provide_merchant_service, sync_to_thread=False),
            "commands": Provide(provide_payment_commands, sync_to_thread=False),
            "keyed": Provide(provide_keyed_request, sync_to_thread=False),
            "transactions": Provide(provide_transaction_service, sync_to_thread=False),
            "vault": Provide(vault_commands, sync_to_thread=False),
            "payment_methods": Provide(provide_payment_method_service, sync_to_thread=False),
            "subscription_commands": Provide(subscription_commands, sync_to_thread=False),
            "subscriptions": Provide(provide_subscription_service, sync_to_thread=False),
            "subscription_changes": Provide(provide_subscription_changes, sync_to_thread=False),
            "webhook_events": Provide(provide_webhook_event_service, sync_to_thread=False),
            "webhook_endpoints": Provide(provide_endpoint_service, sync_to_thread=False),
        },
        # Rate limits after the scope check: a key refused its route spends nothing;
        # text PostgreSQL cannot store after both (API.md's order: key, scope, then input).
        guards=[scope_guard, rate_limit_guard, refuse_unstorable_text],
        exception_handlers=exception_handlers(),
        middleware=[metrics.middleware, authentication_middleware()],
        plugins=[StrictBodyPlugin()],
        request_max_body_size=settings.http.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Payment Gateway API",
            version=__version__,
            description=API_DESCRIPTION,
            path=DOCS_PATH,
            render_plugins=[docs_render_plugin()],
            components=Components(
                security_schemes={
                    "api_key": SecurityScheme(
                        type="http", scheme="bearer", description="gw_test_... or gw_live_..."
                    )
                }
            ),
            security=[{"api_key": []}],
        ),
        logging_config=None,
        debug=False,
    )


def _json_logs(settings: Settings) -> bool | None:
    if settings.core.log_json is not None:
        return settings.core.log_json
    return True if settings.is_production else None
