"""API key scopes (API.md "Authentication and modes")."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from enum import StrEnum

from gateway.core.errors import ValidationFailed


class Scope(StrEnum):
    PAYMENTS_READ = "payments:read"
    PAYMENTS_WRITE = "payments:write"
    SUBSCRIPTIONS_READ = "subscriptions:read"
    SUBSCRIPTIONS_WRITE = "subscriptions:write"
    WEBHOOKS_ADMIN = "webhooks:admin"
    ADMIN = "admin"


def parse_scopes(values: Iterable[str], *, field: str = "scopes") -> list[Scope]:
    """Accept repeated values and comma-separated lists; keep order, drop repeats."""
    parsed: list[Scope] = []
    for value in values:
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            try:
                scope = Scope(item)
            except ValueError:
                known = ", ".join(scope.value for scope in Scope)
                raise ValidationFailed.for_field(
                    field, f"unknown scope {item!r} (known: {known})"
                ) from None
            if scope not in parsed:
                parsed.append(scope)
    if not parsed:
        raise ValidationFailed.for_field(field, "at least one scope is required")
    return parsed


def grants(held: Collection[str], required: Scope) -> bool:
    """`admin` implies every scope."""
    return Scope.ADMIN in held or required in held
