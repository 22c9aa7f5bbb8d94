"""Reading a request's JSON-shaped content: JSON gives numbers and booleans
where XML gives strings, so every scalar is read as text. A missing required
element is the schema's error (E00003), as Authorize.Net answers it."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from gateway.sandbox.answers import INVALID_FIELD, SCHEMA, CallError


def child(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, list) and len(value) == 1:
        value = value[0]  # a repeated element with one occurrence
    if not isinstance(value, dict):
        raise CallError(SCHEMA, f"The element '{name}' has invalid content.")
    return value


def required_child(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = child(body, name)
    if value is None:
        raise CallError(SCHEMA, f"The element '{name}' is required.")
    return value


def text(body: dict[str, Any] | None, name: str) -> str | None:
    if body is None:
        return None
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        raise CallError(SCHEMA, f"The element '{name}' must be a simple value.")
    return str(value).strip()


def required_text(body: dict[str, Any], name: str) -> str:
    value = text(body, name)
    if not value:
        raise CallError(SCHEMA, f"The element '{name}' is required.")
    return value


def flag(body: dict[str, Any] | None, name: str) -> bool | None:
    value = text(body, name)
    if value is None:
        return None
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise CallError(SCHEMA, f"The '{name}' element is invalid: '{value}' is not a boolean.")


def integer(body: dict[str, Any] | None, name: str) -> int | None:
    value = text(body, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise CallError(SCHEMA, f"The '{name}' element is invalid: '{value}'.") from None


def decimal(value: str | None) -> Decimal | None:
    """An amount as sent ("10.00"); None when absent or unreadable."""
    if value is None:
        return None
    try:
        parsed = Decimal(value)
    except InvalidOperation:
        return None
    return parsed if parsed.is_finite() else None


def invalid(name: str, why: str) -> CallError:
    return CallError(INVALID_FIELD, f"The field '{name}' is invalid: {why}.")
