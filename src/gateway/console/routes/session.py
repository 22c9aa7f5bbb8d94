"""Signing in and out."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.composition.resources import Resources
from gateway.console.auth import (
    PUBLIC,
    SESSION_OPERATOR,
    SESSION_SINCE,
    address_of,
    provide_operator,
    request_id_of,
)
from gateway.console.pages import page
from gateway.console.service import LoginResult, OperatorService
from gateway.core.errors import RateLimited
from gateway.core.rate_limits import Policy
from gateway.core.settings import Settings

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


class SessionController(Controller):
    path = "/console"

    @get("/login", opt=PUBLIC, include_in_schema=False)
    async def login_page(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "login.html", error=None)

    @post("/login", opt=PUBLIC, include_in_schema=False, status_code=303)
    async def login(
        self, request: Request[Any, Any, Any], data: Form, db_session: NamedDependency[AsyncSession]
    ) -> Template | Redirect:
        settings: Settings = request.app.state.settings
        resources: Resources = request.app.state.resources
        address = address_of(request)
        operators = OperatorService(db_session, resources.clock)
        limiter = resources.rate_limiter
        if limiter is not None:
            try:
                # Every attempt counts, right or wrong: a guesser spread over many
                # accounts is slowed as much as one on a single account.
                await limiter.hit(
                    Policy.per_minute("failed_auth", settings.console.logins_per_min),
                    "console-login",
                    address,
                )
            except RateLimited as error:
                await operators.record(
                    None,
                    "console.login.rate_limited",
                    object_type="operator",
                    object_id="-",
                    request_id=request_id_of(request),
                    ip_address=address,
                )
                return page(
                    request,
                    "login.html",
                    http_status=429,
                    error=f"Too many sign-in attempts; try again in {error.retry_after} s.",
                )
        login = await operators.login(
            data.get("email", ""), data.get("password", ""), settings.console
        )
        operator_id = login.operator.id if login.operator else None
        await operators.record(
            None,
            f"console.login.{login.result.value}",
            object_type="operator",
            object_id=operator_id or "-",
            operator_id=operator_id,
            request_id=request_id_of(request),
            ip_address=address,
        )
        if login.result is LoginResult.LOCKED:
            return page(
                request,
                "login.html",
                http_status=403,
                error="This account is locked after repeated failures; try again later.",
            )
        if login.result is not LoginResult.OK or login.operator is None:
            return page(request, "login.html", http_status=401, error="Wrong email or password.")
        # A fresh session on sign-in: whatever the browser held before is dropped.
        request.clear_session()
        request.set_session(
            {
                SESSION_OPERATOR: login.operator.id,
                SESSION_SINCE: resources.clock.now().timestamp(),
            }
        )
        return Redirect(path="/console/payments", status_code=303)

    @post("/logout", include_in_schema=False, status_code=303)
    async def logout(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        operator = provide_operator(request)
        resources: Resources = request.app.state.resources
        operators = OperatorService(db_session, resources.clock)
        await operators.end_sessions(operator.operator_id)
        await operators.record(
            operator, "console.logout", object_type="operator", object_id=operator.operator_id
        )
        request.clear_session()
        return Redirect(path="/console/login", status_code=303)

    @get("/", include_in_schema=False)
    async def home(self) -> Redirect:
        return Redirect(path="/console/payments")
