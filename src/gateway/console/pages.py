"""What every console page shares: the template response, flash messages, the
mode being looked at, and the form's fields."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from litestar import Request
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from gateway.console.auth import STATE_KEY
from gateway.console.service import OperatorContext
from gateway.core.errors import ValidationFailed

Mode = Literal["test", "live"]
# A query parameter, optional and free text (each page checks its own).
Query = Annotated[str | None, QueryParameter()]
_FLASH = "flash"


def mode_of(value: str | None) -> Mode:
    """Test data unless live is asked for: never both on one page."""
    return "live" if value == "live" else "test"


def page(
    request: Request[Any, Any, Any], template: str, *, http_status: int = 200, **context: Any
) -> Template:
    session = request.scope.get("session")
    flash = session.pop(_FLASH, None) if isinstance(session, dict) else None
    operator = request.state.get(STATE_KEY)
    return Template(
        template_name=template,
        status_code=http_status,
        context={
            "operator": operator if isinstance(operator, OperatorContext) else None,
            "operator_email": request.state.get("console_email"),
            "flash": flash,
            **context,
        },
        headers={"Cache-Control": "no-store"},
    )


def flash_and_go(
    request: Request[Any, Any, Any], message: str, to: str, *, ok: bool = True
) -> Redirect:
    """Post/redirect/get: the message shows once on the page the action returns to."""
    session = request.scope.get("session")
    if isinstance(session, dict):
        session[_FLASH] = {"ok": ok, "text": message}
    return Redirect(path=to, status_code=303)


def new_form_key() -> str:
    """A form's Idempotency-Key, made when the page is shown."""
    return secrets.token_urlsafe(18)


def optional_amount(text: str | None) -> int | None:
    value = (text or "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise ValidationFailed.for_field("amount", "a whole number of minor units (1500 = $15.00)")
    return int(value)


def day_start(text: str | None, *, field: str, next_day: bool = False) -> datetime | None:
    value = (text or "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed.for_field(field, "a date, YYYY-MM-DD") from None
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start + timedelta(days=1) if next_day else start
