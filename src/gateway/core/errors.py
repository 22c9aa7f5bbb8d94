"""Domain errors: what went wrong, in the words of API.md's stable codes.

They know nothing of HTTP; `core.problems` maps each code to a status, a title and a
problem+json body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import msgspec


class FieldError(msgspec.Struct, frozen=True):
    """One failed field: a dotted path into the body, or a header's name."""

    field: str
    message: str


class GatewayError(Exception):
    """Base of every error a client may be told about."""

    code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        extra: Mapping[str, Any] | None = None,
        retry_after: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = tuple(errors)
        self.extra = dict(extra or {})
        self.retry_after = retry_after
        # Response headers beyond Retry-After (a 429's RateLimit headers).
        self.headers = dict(headers or {})


class ValidationFailed(GatewayError):
    code = "validation_error"

    @classmethod
    def for_field(cls, field: str, message: str) -> ValidationFailed:
        return cls(f"{field}: {message}", errors=[FieldError(field=field, message=message)])


class Unauthorized(GatewayError):
    code = "unauthorized"


class Forbidden(GatewayError):
    code = "forbidden"


class NotFound(GatewayError):
    code = "not_found"


class InvalidState(GatewayError):
    code = "invalid_state"


class RateLimited(GatewayError):
    code = "rate_limited"


class ServiceUnavailable(GatewayError):
    code = "service_unavailable"
