"""The one mapping from errors to RFC 9457 problem+json answers (API.md "Errors").

Domain errors carry a stable `code`; this module owns the HTTP status of each
code, turns Litestar's own routing and validation errors into the same shape,
and answers everything unexpected with a 500 that reveals nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import asyncpg
import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from gateway.core.card_numbers import mask_card_numbers_in
from gateway.core.errors import FieldError, GatewayError
from gateway.core.hostile_input import OBJECT_REQUIRED

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemKind(NamedTuple):
    status: int
    title: str


# Every code of API.md with its status and its one title. Codes of later features
# live here too, so a domain never decides an HTTP status (or words a title) itself.
PROBLEM_KINDS: Mapping[str, ProblemKind] = {
    "validation_error": ProblemKind(400, "Invalid request"),
    "idempotency_key_missing": ProblemKind(400, "Idempotency-Key required"),
    "unauthorized": ProblemKind(401, "Unauthorized"),
    "invalid_signature": ProblemKind(401, "Invalid signature"),
    "card_declined": ProblemKind(402, "Card declined"),
    "forbidden": ProblemKind(403, "Forbidden"),
    "not_found": ProblemKind(404, "Not found"),
    "method_not_allowed": ProblemKind(405, "Method not allowed"),
    "invalid_state": ProblemKind(409, "Invalid state"),
    "idempotency_key_in_use": ProblemKind(409, "Idempotency-Key in use"),
    "payload_too_large": ProblemKind(413, "Payload too large"),
    "amount_exceeds_capturable": ProblemKind(422, "Amount exceeds capturable"),
    "amount_exceeds_refundable": ProblemKind(422, "Amount exceeds refundable"),
    "idempotency_key_reused": ProblemKind(422, "Idempotency-Key reused"),
    "rate_limited": ProblemKind(429, "Too many requests"),
    "internal_error": ProblemKind(500, "Internal error"),
    "processor_error": ProblemKind(502, "Processor error"),
    "processor_unavailable": ProblemKind(503, "Processor unavailable"),
    "service_unavailable": ProblemKind(503, "Service unavailable"),
}

STATUS_BY_CODE: Mapping[str, int] = {code: kind.status for code, kind in PROBLEM_KINDS.items()}

_CODE_BY_STATUS: Mapping[int, str] = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "rate_limited",
    503: "service_unavailable",
}

_log = structlog.get_logger("gateway.errors")


class Problem(msgspec.Struct, omit_defaults=True):
    """The wire shape of an error (documented in the OpenAPI schema)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldError] | None = None


def problem_document(
    *,
    code: str,
    detail: str,
    errors: Sequence[FieldError] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The problem+json body of an error code (API.md "Errors"); its status and
    title are the code's own (`PROBLEM_KINDS`)."""
    kind = PROBLEM_KINDS[code]
    body: dict[str, Any] = {
        "type": f"urn:gateway:problem:{code}",
        "title": kind.title,
        "status": kind.status,
        # Details may quote what the client sent (an id); never a card number. Only
        # what pci-scan calls a card number is masked: an id is shown as it is.
        "detail": mask_card_numbers_in(detail),
        "code": code,
    }
    if errors:
        body["errors"] = [
            {
                "field": mask_card_numbers_in(error.field),
                "message": mask_card_numbers_in(error.message),
            }
            for error in errors
        ]
    for key, value in (extra or {}).items():
        body.setdefault(key, value)
    return body


def problem_of(error: GatewayError) -> dict[str, Any]:
    return problem_document(
        code=error.code,
        detail=error.detail,
        errors=error.errors,
        extra=error.extra,
    )


def problem_response(
    *,
    code: str,
    detail: str,
    errors: Sequence[FieldError] = (),
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[dict[str, Any]]:
    body = problem_document(code=code, detail=detail, errors=errors, extra=extra)
    return Response(
        content=body,
        status_code=body["status"],
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


def _gateway_error(_: Request[Any, Any, Any], exc: GatewayError) -> Response[dict[str, Any]]:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}
    headers.update(exc.headers)
    body = problem_of(exc)
    return Response(
        content=body, status_code=body["status"], media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


# msgspec reports paths as `$.payment_method.card.number` or `$.items[0].name`.
_PATH = re.compile(r"`\$(?P<path>[^`]*)`")


def field_errors_from_litestar(extra: Any) -> list[FieldError]:
    """Turn Litestar's `extra` list of validation messages into dotted field paths."""
    errors: list[FieldError] = []
    for item in extra if isinstance(extra, list) else []:
        if not isinstance(item, Mapping):
            continue
        message = str(item.get("message", "invalid value"))
        key = str(item.get("key") or "")
        source = item.get("source")
        field = key if source != "body" else key.removeprefix("data").lstrip(".")
        if source == "body" and not field:
            # Litestar never hands an empty body to the decoder; it reports the
            # handler's `data` argument as missing instead.
            message = OBJECT_REQUIRED
        errors.append(FieldError(field=field or "body", message=message))
    return errors


def dotted_path(msgspec_path: str) -> str:
    """`$.a.b[0].c` → `a.b.0.c`; msgspec does not name a mapping's key (`[...]`),
    so an error inside a mapping points at the mapping."""
    path = msgspec_path.split("[...]", 1)[0]
    return re.sub(r"\[(\d+)\]", r".\1", path).lstrip(".")


def _validation_error(
    _: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    errors = field_errors_from_litestar(exc.extra)
    detail = "; ".join(f"{error.field}: {error.message}" for error in errors) or str(exc.detail)
    return problem_response(code="validation_error", detail=detail, errors=errors)


def _not_found(_: Request[Any, Any, Any], exc: NotFoundException) -> Response[dict[str, Any]]:
    return problem_response(code="not_found", detail="No such resource.")


def _method_not_allowed(
    _: Request[Any, Any, Any], exc: MethodNotAllowedException
) -> Response[dict[str, Any]]:
    headers = {key: value for key, value in (exc.headers or {}).items() if key.lower() == "allow"}
    return problem_response(
        code="method_not_allowed", detail="This method is not allowed here.", headers=headers
    )


def _http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    if status >= 500:
        return _internal(exc)
    code = _CODE_BY_STATUS.get(status, "validation_error")
    detail = {
        413: "The request body is larger than the gateway accepts.",
    }.get(status, str(exc.detail))
    return problem_response(code=code, detail=detail)


def _database_unavailable(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    _log.error("database.unavailable", error=type(exc).__name__)
    return problem_response(
        code="service_unavailable",
        detail="The database is unreachable; try again shortly.",
        headers={"Retry-After": "5"},
    )


def _database_error(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[dict[str, Any]]:
    """A connection lost mid-statement (a failover, a dropped backend) is the
    database being unavailable, whatever error class the driver chose; the
    client's retry with the same Idempotency-Key finds out what was committed."""
    if exc.connection_invalidated:
        return _database_unavailable(request, exc)
    return _internal(exc)


def _unexpected(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    return _internal(exc)


def _internal(exc: BaseException) -> Response[dict[str, Any]]:
    _log.error("request.failed", exc_info=exc)
    return problem_response(code="internal_error", detail="An internal error occurred.")


def exception_handlers() -> ExceptionHandlersMap:
    """Litestar picks the most specific class for each raised exception."""
    return {
        GatewayError: _gateway_error,
        ValidationException: _validation_error,
        NotFoundException: _not_found,
        MethodNotAllowedException: _method_not_allowed,
        HTTPException: _http_exception,
        OperationalError: _database_unavailable,
        InterfaceError: _database_unavailable,
        DBAPIError: _database_error,
        # Raised unwrapped when a pooled connection is set up while the server is
        # dropping connections (SQLAlchemy's on-connect hooks call asyncpg directly).
        asyncpg.InterfaceError: _database_unavailable,
        asyncpg.PostgresConnectionError: _database_unavailable,
        asyncpg.exceptions.OperatorInterventionError: _database_unavailable,
        ConnectionRefusedError: _database_unavailable,
        Exception: _unexpected,
    }
