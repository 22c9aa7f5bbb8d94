"""What the OpenAPI document says about answers, in one place (API.md "Errors").

Each route declares its kind (does it take an id in the path, a body, does it
move money) and gets every problem+json answer it can give, with a real example
of each body. Litestar would otherwise invent random filler examples and
document its own 400 shape instead of ours.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, Final

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Example,
    OpenAPIHeader,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Schema,
)
from litestar.params import HeaderParameter, KwargDefinition, QueryParameter
from litestar.types import DataContainerType

from gateway.core.errors import FieldError
from gateway.core.problems import PROBLEM_MEDIA_TYPE, Problem, problem_document

# A real transaction id and test card (ANET.md's Visa test number): examples a
# reader can paste, never random filler.
EXAMPLE_TRANSACTION_ID = "txn_01JH6M4Q8ZK2V3X9"
EXAMPLE_CARD_NUMBER = "4111111111111111"

# One example body per code: what the gateway really answers.
_EXAMPLES: Mapping[str, dict[str, Any]] = {
    "validation_error": problem_document(
        code="validation_error",
        detail="amount: expected `int`, got `str`",
        errors=[FieldError(field="amount", message="expected int, got str")],
    ),
    "idempotency_key_missing": problem_document(
        code="idempotency_key_missing",
        detail="Every POST here needs an Idempotency-Key header.",
        errors=[FieldError(field="Idempotency-Key", message="required")],
    ),
    "unauthorized": problem_document(code="unauthorized", detail="A valid API key is required."),
    "forbidden": problem_document(
        code="forbidden", detail="This key lacks the scope payments:write."
    ),
    "not_found": problem_document(
        code="not_found", detail=f"No transaction {EXAMPLE_TRANSACTION_ID}."
    ),
    "card_declined": problem_document(
        code="card_declined",
        detail="This transaction has been declined.",
        extra={
            "transaction_id": EXAMPLE_TRANSACTION_ID,
            "decline_code": "2",
            "decline_reason": "This transaction has been declined.",
        },
    ),
    "invalid_state": problem_document(
        code="invalid_state",
        detail="Only an authorized transaction can be captured.",
    ),
    "idempotency_key_in_use": problem_document(
        code="idempotency_key_in_use", detail="A request with this Idempotency-Key is running."
    ),
    "payload_too_large": problem_document(
        code="payload_too_large", detail="The request body is larger than the gateway accepts."
    ),
    "amount_exceeds_refundable": problem_document(
        code="amount_exceeds_refundable", detail="Only 1500 of 2500 can still be refunded."
    ),
    "idempotency_key_reused": problem_document(
        code="idempotency_key_reused",
        detail="This Idempotency-Key was used with a different request.",
    ),
    "invalid_signature": problem_document(
        code="invalid_signature", detail="The X-ANET-Signature header does not match the body."
    ),
    "rate_limited": problem_document(
        code="rate_limited", detail="Too many requests; retry after the Retry-After seconds."
    ),
    "processor_error": problem_document(
        code="processor_error",
        detail="The processor answered with an error; the transaction is failed.",
        extra={"transaction_id": EXAMPLE_TRANSACTION_ID},
    ),
    "processor_unavailable": problem_document(
        code="processor_unavailable", detail="The processor is unavailable; retry later."
    ),
    "service_unavailable": problem_document(
        code="service_unavailable", detail="The database is unreachable; try again shortly."
    ),
}


def problem(description: str, *codes: str) -> ResponseSpec:
    """A problem+json answer, with one real example body per code it may carry."""
    return ResponseSpec(
        data_container=Problem,
        description=description,
        media_type=PROBLEM_MEDIA_TYPE,
        generate_examples=False,
        examples=[Example(summary=code, value=_EXAMPLES[code]) for code in codes] or None,
    )


def ok(container: DataContainerType, description: str, example: Any | None = None) -> ResponseSpec:
    """A success answer; its example (if any) is a real object, never invented."""
    return ResponseSpec(
        data_container=container,
        description=description,
        generate_examples=False,
        examples=None if example is None else [Example(summary="example", value=example)],
    )


# What any route behind an API key may answer.
_AUTHENTICATED: Mapping[int, ResponseSpec] = {
    400: problem("validation_error: a bad query parameter, header or body.", "validation_error"),
    401: problem("unauthorized: no key, or an unknown or revoked one.", "unauthorized"),
    403: problem("forbidden: the key lacks the scope, or its mode is refused here.", "forbidden"),
    429: problem("rate_limited: over the key's budget; see Retry-After.", "rate_limited"),
    503: problem("service_unavailable: the database is unreachable.", "service_unavailable"),
}
_NOT_FOUND = problem("not_found: no such object for this merchant and mode.", "not_found")
_TOO_LARGE = problem("payload_too_large: the body is over 64 KiB.", "payload_too_large")

# What a POST that moves money may answer besides (API.md's status table).
MONEY_PROBLEMS: Mapping[int, ResponseSpec] = {
    400: problem(
        "validation_error or idempotency_key_missing.",
        "validation_error",
        "idempotency_key_missing",
    ),
    402: problem(
        "card_declined, with transaction_id, decline_code and decline_reason.", "card_declined"
    ),
    404: problem("not_found: no such transaction or payment method for this key.", "not_found"),
    409: problem(
        "invalid_state, or idempotency_key_in_use.", "invalid_state", "idempotency_key_in_use"
    ),
    413: _TOO_LARGE,
    422: problem(
        "amount_exceeds_capturable/refundable, or idempotency_key_reused.",
        "amount_exceeds_refundable",
        "idempotency_key_reused",
    ),
    502: problem("processor_error; the transaction is failed.", "processor_error"),
    503: problem(
        "processor_unavailable (the key is released) or service_unavailable.",
        "processor_unavailable",
        "service_unavailable",
    ),
}


def api_responses(
    success: Mapping[int, ResponseSpec] | None = None,
    *,
    takes_id: bool = False,
    body: bool = False,
    also: Mapping[int, ResponseSpec] | None = None,
) -> dict[int, ResponseSpec]:
    """Every answer of a route behind an API key: 400/401/403/429/503 always,
    404 when it takes an id in the path, 413 when it takes a body, and `also`
    (e.g. `MONEY_PROBLEMS`, or a 409 of its own) over those."""
    answers: dict[int, ResponseSpec] = dict(_AUTHENTICATED)
    if takes_id:
        answers[404] = _NOT_FOUND
    if body:
        answers[413] = _TOO_LARGE
    answers.update(also or {})
    answers.update(success or {})
    return answers


def money_responses(success: Mapping[int, ResponseSpec]) -> dict[int, ResponseSpec]:
    """A POST under /payments, /subscriptions or /payment-methods."""
    return api_responses(success, body=True, also=MONEY_PROBLEMS)


def one_of(
    values: Iterable[str | None] | type[Enum], *, description: str | None = None
) -> KwargDefinition:
    """An `enum` in the document for a field kept as `str` in Python (the values
    come from the ORM as text; the route or the domain checks them)."""
    listed = [member.value if isinstance(member, Enum) else member for member in values]
    return KwargDefinition(schema_extra={"enum": listed}, description=description)


def query_one_of(values: Iterable[str] | type[Enum], description: str) -> Any:
    """An optional query filter that takes one of `values` (the route checks it:
    anything else is a 400)."""
    listed = [member.value if isinstance(member, Enum) else member for member in values]
    return QueryParameter(description=description, schema_extra={"enum": listed})


IDEMPOTENCY_KEY_PATTERN = r"^[\x20-\x7e]{1,255}$"

# Declared on every money POST so clients and generators see it; the value is
# checked (and its absence answered) by `idempotency_precheck` before this runs.
IdempotencyKeyHeader = Annotated[
    str,
    HeaderParameter(
        name="Idempotency-Key",
        required=True,
        min_length=1,
        max_length=255,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="1-255 printable ASCII characters; the same key and request replay the "
        "stored answer.",
        examples=[Example(value="order-1042-purchase")],
    ),
]


# The answers that carry Retry-After (problems.py): a rate limit's wait, and the
# breaker's or the database's when a dependency is down.
RETRY_AFTER_STATUSES: Final = ("429", "503")
_RETRY_AFTER = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.INTEGER, minimum=0),
    description="Seconds to wait before sending the request again.",
)


@dataclass
class GatewayOperation(Operation):
    """Every operation of the API (app.py sets it on each handler): Litestar's
    `ResponseSpec` cannot declare a header, so the 429 and 503 answers get their
    `Retry-After` here, as the operation is built."""

    def __post_init__(self) -> None:
        for status in RETRY_AFTER_STATUSES:
            answer = (self.responses or {}).get(status)
            if isinstance(answer, OpenAPIResponse):
                answer.headers = {**(answer.headers or {}), "Retry-After": _RETRY_AFTER}


@dataclass
class PublicOperation(GatewayOperation):
    """An operation no API key guards (health, inbound webhooks): `security: []`
    overrides the document's default, since Litestar only adds to it per layer."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.security = []
