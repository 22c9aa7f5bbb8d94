"""Prometheus exposition at /api/v1/metrics (multiprocess-ready).

Request counts and latency come from Litestar's Prometheus middleware, labelled
by route template, method and status. With `PROMETHEUS_MULTIPROC_DIR` set (as
`gateway up` does for its children) every process writes its samples there and
the endpoint aggregates them.
"""

from __future__ import annotations

import hmac
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

METRICS_PATH = "/api/v1/metrics"


def prometheus_config() -> PrometheusConfig:
    return PrometheusConfig(
        app_name="gateway",
        prefix="gateway",
        group_path=True,
        exclude_unhandled_paths=True,
        exclude=[METRICS_PATH],
    )


def metrics_token_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Require `Authorization: Bearer <GATEWAY_METRICS_TOKEN>` when that setting is not empty."""
    token: str = connection.app.state.settings.http.metrics_token
    if not token:
        return
    given = connection.headers.get("authorization", "")
    scheme, _separator, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        value.strip().encode(), token.encode()
    ):
        raise NotAuthorizedException("A valid metrics bearer token is required.")


class MetricsController(PrometheusController):
    path = METRICS_PATH
    guards = [metrics_token_guard]  # noqa: RUF012 - Litestar reads this class attribute
    include_in_schema = False
