"""Who is signed in to the console, and what they may do.

Every console route needs a signed-in operator except those marked public (the
login page); routes that change anything are marked admin. The guard reads the
operator from the database on each request, so a role taken away or an account
removed takes effect at once, whatever the cookie says.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from gateway.composition.resources import Resources
from gateway.console.service import OperatorContext, OperatorService, Role
from gateway.core.client_address import client_address
from gateway.core.errors import Forbidden
from gateway.core.settings import Settings

PUBLIC: Final = {"console_public": True}
ADMIN: Final = {"console_admin": True}
STATE_KEY: Final = "console_operator"
SESSION_OPERATOR: Final = "operator_id"
SESSION_SINCE: Final = "signed_in_at"


class NotSignedIn(Exception):
    """No valid console session: the answer is the login page."""


def address_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    settings: Settings = connection.app.state.settings
    return client_address(connection, settings.rate_limits.trusted_proxies)


def request_id_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    value = connection.scope.get("state", {}).get("request_id")
    return str(value) if value is not None else None


def _session_start(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[str, datetime] | None:
    session = connection.scope.get("session")
    if not isinstance(session, dict):
        return None
    operator_id = session.get(SESSION_OPERATOR)
    since = session.get(SESSION_SINCE)
    if not isinstance(operator_id, str) or not isinstance(since, (int, float)):
        return None
    return operator_id, datetime.fromtimestamp(since, UTC)


async def operator_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    if handler.opt.get("console_public"):
        return
    started = _session_start(connection)
    if started is None:
        raise NotSignedIn
    operator_id, since = started
    settings: Settings = connection.app.state.settings
    resources: Resources = connection.app.state.resources
    # The cookie's own max-age is the browser's word; this is ours.
    if resources.clock.now() - since > timedelta(hours=settings.console.session_hours):
        raise NotSignedIn
    async with resources.session_factory() as session:
        operator = await OperatorService(session, resources.clock).get(operator_id)
    if operator is None:
        raise NotSignedIn
    if operator.sessions_valid_from is not None and since < operator.sessions_valid_from:
        raise NotSignedIn  # signed out (or the password changed) since
    context = OperatorContext(
        operator_id=operator.id,
        role=Role(operator.role),
        request_id=request_id_of(connection),
        ip_address=address_of(connection),
    )
    connection.state[STATE_KEY] = context
    connection.state["console_email"] = operator.email
    if handler.opt.get("console_admin") and not context.is_admin:
        raise Forbidden("Only an admin operator may do this.")


def provide_operator(request: Request[Any, Any, Any]) -> OperatorContext:
    context = request.state.get(STATE_KEY)
    if not isinstance(context, OperatorContext):
        raise NotSignedIn
    return context
