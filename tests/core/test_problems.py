"""Every error path answers problem+json with a stable code (API.md "Errors")."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import msgspec
import pytest
from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from structlog.testing import capture_logs

from gateway.app import create_app
from gateway.composition.resources import Resources
from gateway.core.errors import FieldError, InvalidState, NotFound, ValidationFailed
from gateway.core.schemas import RequestBody
from gateway.core.settings import Settings
from gateway.merchants.auth import ANY_KEY, SCOPE_OPT
from tests.fixtures.app import make_settings
from tests.fixtures.merchants import KeyFactory
from tests.support import closed_port, http_client


class Card(RequestBody):
    card_data = frozenset({"number"})

    number: str
    exp_month: int


class PaymentMethod(RequestBody):
    card: Card


class Charge(RequestBody):
    amount: int
    currency: str
    payment_method: PaymentMethod
    description: str | None = None


@post("/test/charges", sync_to_thread=False, opt={SCOPE_OPT: ANY_KEY})
def create_charge(data: JSONBody[Charge]) -> dict[str, int]:
    return {"amount": data.amount}


@get("/test/invalid-state", sync_to_thread=False, opt={SCOPE_OPT: ANY_KEY})
def invalid_state() -> None:
    raise InvalidState("The transaction is already captured.", extra={"transaction_id": "txn_1"})


@get("/test/missing", sync_to_thread=False, opt={SCOPE_OPT: ANY_KEY})
def missing() -> None:
    raise NotFound("No such transaction.")


@get("/test/field", sync_to_thread=False, opt={SCOPE_OPT: ANY_KEY})
def bad_field() -> None:
    raise ValidationFailed(
        "Bad header.", errors=[FieldError(field="Idempotency-Key", message="too long")]
    )


@get("/test/crash", sync_to_thread=False, opt={SCOPE_OPT: ANY_KEY})
def crash() -> None:
    raise RuntimeError("secret internals: 4111111111111111 at db.internal:5432")


@get("/test/database", opt={SCOPE_OPT: ANY_KEY})
async def touch_database(db_session: NamedDependency[AsyncSession]) -> dict[str, int]:
    value = (await db_session.execute(text("SELECT 1"))).scalar_one()
    return {"value": value}


@get("/test/connection-dropped", opt={SCOPE_OPT: ANY_KEY})
async def lose_the_connection(db_session: NamedDependency[AsyncSession]) -> dict[str, int]:
    """The backend serving this request is terminated mid-request, as a failover does."""
    pid = (await db_session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    url = db_session.bind.engine.url.render_as_string(hide_password=False)
    admin = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    value = (await db_session.execute(text("SELECT 1"))).scalar_one()
    return {"value": value}


@get("/test/connection-setup-failed", sync_to_thread=False, opt={SCOPE_OPT: ANY_KEY})
def connection_setup_failed() -> None:
    # What asyncpg raises, unwrapped by SQLAlchemy, when the pool sets up a new
    # connection that the server has just dropped.
    raise asyncpg.InterfaceError("connection is closed")


TEST_ROUTES = [
    connection_setup_failed,
    create_charge,
    invalid_state,
    missing,
    bad_field,
    crash,
    touch_database,
    lose_the_connection,
]

VALID = {
    "amount": 1500,
    "currency": "USD",
    "payment_method": {"card": {"number": "4111111111111111", "exp_month": 12}},
}


@pytest.fixture
async def problem_client(
    settings: Settings, resources: Resources, admin_headers: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, resources=resources, extra_routes=TEST_ROUTES)
    async with http_client(app, admin_headers) as client:
        yield client


def assert_problem(response: object, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    assert body["code"] == code
    assert {"type", "title", "detail"} <= body.keys()
    return body


async def test_a_valid_body_passes(problem_client: httpx.AsyncClient) -> None:
    response = await problem_client.post("/test/charges", json=VALID)
    assert response.status_code == 201
    assert response.json() == {"amount": 1500}


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("1500", "expected int, got str"),
        (1500.0, "expected int, got float"),
        (True, "expected int, got bool"),
        (None, "expected int, got null"),
    ],
)
async def test_integers_are_decoded_strictly(
    problem_client: httpx.AsyncClient, amount: object, message: str
) -> None:
    response = await problem_client.post("/test/charges", json={**VALID, "amount": amount})
    body = assert_problem(response, 400, "validation_error")
    assert body["errors"] == [{"field": "amount", "message": message}]


async def test_nested_errors_carry_a_dotted_path(
    problem_client: httpx.AsyncClient,
) -> None:
    payload = {
        **VALID,
        "payment_method": {"card": {"number": "4111111111111111", "exp_month": "12"}},
    }
    response = await problem_client.post("/test/charges", json=payload)
    body = assert_problem(response, 400, "validation_error")
    assert body["errors"] == [
        {"field": "payment_method.card.exp_month", "message": "expected int, got str"}
    ]


async def test_unknown_fields_are_rejected(problem_client: httpx.AsyncClient) -> None:
    response = await problem_client.post("/test/charges", json={**VALID, "amout": 5})
    body = assert_problem(response, 400, "validation_error")
    assert body["errors"] == [{"field": "amout", "message": "unknown field"}]

    nested = {**VALID, "payment_method": {"card": {**VALID["payment_method"]["card"], "cvc": "1"}}}  # type: ignore[index]
    response = await problem_client.post("/test/charges", json=nested)
    body = assert_problem(response, 400, "validation_error")
    assert body["errors"] == [{"field": "payment_method.card.cvc", "message": "unknown field"}]


async def test_missing_fields_are_named(problem_client: httpx.AsyncClient) -> None:
    response = await problem_client.post("/test/charges", json={"amount": 1})
    body = assert_problem(response, 400, "validation_error")
    assert body["errors"] == [
        {"field": "body", "message": "object missing required field currency"}
    ]


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1,2]", b'"text"'])
async def test_malformed_bodies_are_validation_errors(
    problem_client: httpx.AsyncClient, raw: bytes
) -> None:
    response = await problem_client.post(
        "/test/charges", content=raw, headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "validation_error")


async def test_error_bodies_never_echo_a_card_number(
    problem_client: httpx.AsyncClient,
) -> None:
    payload = {**VALID, "payment_method": {"card": {"number": 4111111111111111, "exp_month": 1}}}
    response = await problem_client.post("/test/charges", json=payload)
    assert_problem(response, 400, "validation_error")
    assert "4111111111111111" not in response.text


async def test_oversized_bodies_are_413(problem_client: httpx.AsyncClient) -> None:
    payload = {**VALID, "description": "x" * (64 * 1024)}
    response = await problem_client.post("/test/charges", content=msgspec.json.encode(payload))
    assert_problem(response, 413, "payload_too_large")


async def test_unknown_paths_are_404(problem_client: httpx.AsyncClient) -> None:
    response = await problem_client.get("/api/v1/nothing-here")
    assert_problem(response, 404, "not_found")


async def test_wrong_methods_are_405_with_allow(problem_client: httpx.AsyncClient) -> None:
    response = await problem_client.delete("/api/v1/health/live")
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


async def test_domain_errors_map_to_their_status(
    problem_client: httpx.AsyncClient,
) -> None:
    body = assert_problem(await problem_client.get("/test/invalid-state"), 409, "invalid_state")
    assert body["transaction_id"] == "txn_1"
    assert_problem(await problem_client.get("/test/missing"), 404, "not_found")
    body = assert_problem(await problem_client.get("/test/field"), 400, "validation_error")
    assert body["errors"] == [{"field": "Idempotency-Key", "message": "too long"}]


async def test_a_crash_is_500_revealing_nothing_and_logged(
    problem_client: httpx.AsyncClient,
) -> None:
    with capture_logs() as logs:
        response = await problem_client.get("/test/crash")
    body = assert_problem(response, 500, "internal_error")
    assert body["detail"] == "An internal error occurred."
    assert "secret internals" not in response.text
    assert "4111111111111111" not in response.text
    failures = [line for line in logs if line["event"] == "request.failed"]
    assert failures
    assert isinstance(failures[0]["exc_info"], RuntimeError)


async def test_an_unreachable_database_is_503_service_unavailable(
    test_redis_url: str,
) -> None:
    down = f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/gateway"
    app = create_app(make_settings(down, test_redis_url), extra_routes=TEST_ROUTES)
    well_formed_key = {"Authorization": "Bearer gw_test_" + "x" * 40}
    async with http_client(app, well_formed_key) as client:
        response = await client.get("/test/database")
    assert_problem(response, 503, "service_unavailable")
    assert response.headers["retry-after"]


async def test_a_connection_dropped_mid_request_is_503_not_500(
    database_url: str, test_redis_url: str, make_committed_key: KeyFactory
) -> None:
    key = await make_committed_key()
    app = create_app(make_settings(database_url, test_redis_url), extra_routes=TEST_ROUTES)
    async with http_client(app, {"Authorization": f"Bearer {key}"}) as client:
        response = await client.get("/test/connection-dropped")
        assert_problem(response, 503, "service_unavailable")
        assert response.headers["retry-after"]
        # The pool noticed and recovered: the next request gets a working session.
        assert (await client.get("/test/database")).json() == {"value": 1}


async def test_a_connection_lost_while_being_set_up_is_503(
    problem_client: httpx.AsyncClient,
) -> None:
    response = await problem_client.get("/test/connection-setup-failed")
    assert_problem(response, 503, "service_unavailable")


async def test_handlers_get_a_working_session(problem_client: httpx.AsyncClient) -> None:
    response = await problem_client.get("/test/database")
    assert response.json() == {"value": 1}
