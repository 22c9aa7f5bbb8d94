"""DESIGN.md invariant 2: a card number or CVV is never stored, logged or answered.

Every test card of ANET.md §3 goes through every payment path (purchase,
authorize then capture or cancel, refund before and after settlement, declines,
processor errors, reviews, timeouts, replays, refused requests), on an app that
really commits, so the simulator's own ledger is in the dump too. Then
everything the system wrote is searched: every row of every table (and the
plaintext of every encrypted column), every Redis key and value, the structured
log records, the rendered stderr, and every HTTP response body.

The scenario runs twice: once under `structlog.testing.capture_logs` (the event
dicts as the code handed them to the logger, before any redaction: nothing
card-like may even be offered to it), once with the real log pipeline rendering
to stderr.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import pytest
import structlog
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from structlog.testing import capture_logs

from gateway.app import create_app
from gateway.composition.process import lent_resources
from gateway.composition.resources import Resources
from gateway.core.card_numbers import detect_brand
from gateway.core.clock import FrozenClock
from gateway.core.crypto import FieldCrypto
from gateway.core.settings import Settings
from gateway.merchants.scopes import Scope
from gateway.models import Base
from gateway.payments.settlement import SettlementService
from gateway.processors.simulator import Simulator
from tests.fixtures.merchants import KeyFactory
from tests.support import TEST_CARD_NUMBERS, http_client

# Distinctive CVVs (none is an amount, an id or a time used here); a 4-digit one for Amex.
CVV = "737"
AMEX_CVV = "4821"
CVVS = (CVV, AMEX_CVV)
TRIGGER_CARD = "4222222222222"
ENCRYPTED_SUFFIX = "_encrypted"


def cvv_for(number: str) -> str:
    return AMEX_CVV if detect_brand(number) == "amex" else CVV


def wrong_cvv_for(number: str) -> str:
    return CVV if detect_brand(number) == "amex" else AMEX_CVV


# -- what counts as a leak -----------------------------------------------------------


def _number_pattern(number: str) -> re.Pattern[str]:
    # Also grouped by spaces or dashes ("4111 1111 1111 1111").
    return re.compile(r"[ -]?".join(number))


NUMBER_PATTERNS = {number: _number_pattern(number) for number in TEST_CARD_NUMBERS}
# A CVV is three or four digits, so it is looked for only where it could be a CVV:
# next to a card-code key in any notation (JSON, repr, key=value, XML), or standing
# alone as a value (JSON, a row's text, a log field). Letters, digits and the
# punctuation of times, decimals, base64 and ids around it make it part of something
# else (a ciphertext, a fingerprint, "12:00:00.737").
_NEIGHBOUR = r"[0-9A-Za-z+/=_.:-]"
CVV_PATTERNS = {
    cvv: (
        re.compile(
            rf"(?i)(cvv2?|cvc2?|card_?code|security_?code)[\"'>]?\s*[:=]?\s*[\"']?{cvv}(?!\d)"
        ),
        re.compile(rf"(?<!{_NEIGHBOUR}){cvv}(?!{_NEIGHBOUR})"),
    )
    for cvv in CVVS
}


def leaks(text_: str) -> list[str]:
    found = [f"card {number}" for number, p in NUMBER_PATTERNS.items() if p.search(text_)]
    for cvv, patterns in CVV_PATTERNS.items():
        for pattern in patterns:
            match = pattern.search(text_)
            if match:
                window = text_[max(0, match.start() - 60) : match.end() + 60]
                found.append(f"cvv {cvv} in ...{window}...")
    return found


@dataclass
class Evidence:
    """Every text the system produced, by where it was found."""

    texts: list[tuple[str, str]] = field(default_factory=list)

    def add(self, where: str, value: Any) -> None:
        if isinstance(value, bytes | bytearray):
            raw = bytes(value)
            self.texts.append((where, raw.decode("utf-8", "replace")))
            self.texts.append((where + " (latin-1)", raw.decode("latin-1")))
            with contextlib.suppress(zlib.error):  # RQ keeps job payloads zlib-compressed
                self.add(where + " (inflated)", zlib.decompress(raw))
        else:
            self.texts.append((where, value if isinstance(value, str) else repr(value)))

    def leaks(self) -> list[str]:
        return [f"{where}: {leak}" for where, value in self.texts for leak in leaks(value)]

    def count(self, prefix: str) -> int:
        return sum(1 for where, _ in self.texts if where.startswith(prefix))


def test_the_leak_detector_finds_what_it_must_and_ignores_lookalikes() -> None:
    assert leaks('{"number": "4111111111111111"}')
    assert leaks("(txn_1,4111 1111 1111 1111,visa)")
    assert leaks('{"cvv": "737"}')
    assert leaks("cvv=4821")
    assert leaks("(txn_06H0,mer_06H0,737,visa)")
    assert leaks("<cardCode>737</cardCode>")
    # Lookalikes: inside a ciphertext, a fingerprint, a time, an id, a bigger number.
    assert not leaks("v1:k1:ab737Cd+737/x737=")
    assert not leaks("fingerprint 9f737e12 at 2026-01-15T12:00:00.737Z")
    assert not leaks("txn_06H0737ABCDEFGHJ amount 17370 duration_ms 737.5 id 60000000737")


# -- the scenario ------------------------------------------------------------------


@dataclass
class Shop:
    client: httpx.AsyncClient
    responses: list[httpx.Response] = field(default_factory=list)

    async def post(
        self, path: str, body: Any = None, *, key: str | None = None, raw: bytes | None = None
    ) -> httpx.Response:
        headers = {"Idempotency-Key": key or f"nocard-{uuid.uuid4()}"}
        if raw is not None:
            headers["Content-Type"] = "application/json"
        response = await self.client.post(
            f"/api/v1/payments/{path}",
            json=None if raw is not None else body,
            content=raw,
            headers=headers,
        )
        self.responses.append(response)
        return response

    async def get(self, path: str = "", **params: str | int) -> httpx.Response:
        response = await self.client.get(f"/api/v1/payments{path}", params=params)
        self.responses.append(response)
        return response


def expect(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    if code is not None:
        assert body["code"] == code, response.text
    return body


def card_of(number: str, cvv: str | None = None, **changes: Any) -> dict[str, Any]:
    card = {
        "number": number,
        "exp_month": 12,
        "exp_year": 2030,
        "cvv": cvv or cvv_for(number),
        "holder_name": "Pat Cardholder",
    }
    return card | changes


def charge(amount: int, card: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD", "payment_method": {"card": card}, **extra}


ADDRESS = {"line1": "1 Main St", "city": "Indianapolis", "postal_code": "46201", "country": "US"}
DECLINING_ADDRESS = ADDRESS | {"postal_code": "46282"}


async def card_journeys(shop: Shop, number: str, index: int) -> list[str]:
    """Every path a card can take. Amounts are never whole dollars, so the trigger
    card approves like the others here. Returns purchases to refund once settled."""
    card = card_of(number)

    # Purchase, replay, key reuse, then a full refund before settlement (a void).
    key = f"purchase-{uuid.uuid4()}"
    purchase = expect(await shop.post("purchase", charge(1111 + index, card), key=key), 201)
    replay = await shop.post("purchase", charge(1111 + index, card), key=key)
    assert replay.headers["Idempotent-Replayed"] == "true"
    reused = await shop.post("purchase", charge(1112 + index, card), key=key)
    expect(reused, 422, "idempotency_key_reused")
    expect(await shop.post("refund", {"transaction_id": purchase["id"]}), 201)

    # Authorize then capture (and a second capture: a stored 409).
    authorization = expect(await shop.post("authorize", charge(2222 + index, card)), 201)
    capture = {"transaction_id": authorization["id"]}
    expect(await shop.post("capture", capture), 201)
    expect(await shop.post("capture", capture), 409, "invalid_state")

    # Authorize then cancel.
    cancelled = expect(await shop.post("authorize", charge(3333 + index, card)), 201)
    expect(await shop.post("cancel", {"transaction_id": cancelled["id"]}), 200)

    # With personal data; a partial refund before settlement is refused (409).
    kept = expect(
        await shop.post(
            "purchase",
            charge(
                4444 + index,
                card,
                billing_address=ADDRESS,
                customer={"id": f"cus-{index}", "email": "pat@example.com"},
                order_id=f"order-{index}",
                metadata={"note": "invariant 2"},
            ),
        ),
        201,
    )
    partial = {"transaction_id": kept["id"], "amount": 100}
    expect(await shop.post("refund", partial), 409, "invalid_state")

    # Declined by the billing zip.
    declined = charge(5555 + index, card, billing_address=DECLINING_ADDRESS)
    expect(await shop.post("purchase", declined), 402, "card_declined")

    for transaction_id in (purchase["id"], authorization["id"], cancelled["id"], kept["id"]):
        expect(await shop.get(f"/{transaction_id}"), 200)
    await refused_requests(shop, number, card)
    return [kept["id"]]


async def refused_requests(shop: Shop, number: str, card: dict[str, Any]) -> None:
    """Requests the gateway refuses: none of its error bodies may echo the card."""
    bad_cards = [
        card_of(number + "0"),  # too long, or failing Luhn
        card_of(number, exp_year=2020),  # expired
        card_of(number, cvv=wrong_cvv_for(number)),  # CVV of the wrong length
        card_of(number + "x"),  # not digits
        card_of(number) | {"number": int(number)},  # not a string
        card_of(number) | {"pan": number},  # an unknown field
    ]
    for bad in bad_cards:
        expect(await shop.post("purchase", charge(6666, bad)), 400, "validation_error")
    expect(await shop.post("purchase", charge(6666, card) | {"amount": "6666"}), 400)
    truncated = json.dumps(charge(6666, card)).encode()[:-7]
    expect(await shop.post("purchase", raw=truncated), 400, "validation_error")
    expect(await shop.post("authorize", charge(0, card)), 400, "validation_error")


# ANET.md §9: card 4222222222222, amount N.00 → reason N; 901/902/903 lose the call.
TRIGGERS = [
    ("purchase", 200, 402),  # declined, reason 2
    ("purchase", 2_700, 402),  # AVS decline
    ("purchase", 6_500, 402),  # CVV filter decline
    ("authorize", 4_400, 402),  # card code mismatch
    ("purchase", 1_900, 502),  # processing error
    ("purchase", 25_200, 202),  # held for review
    ("purchase", 90_100, 202),  # recorded, then a timeout
    ("authorize", 90_100, 202),
    ("purchase", 90_200, 202),  # a timeout, nothing recorded
    ("purchase", 90_300, 503),  # connection refused before sending
]


async def trigger_journeys(shop: Shop) -> None:
    card = card_of(TRIGGER_CARD)
    for path, amount, status in TRIGGERS:
        key = f"trigger-{uuid.uuid4()}"
        first = await shop.post(path, charge(amount, card), key=key)
        assert first.status_code == status, (path, amount, first.text)
        if status != 503:  # a 503 leaves the key free: a retry would be a new attempt
            again = await shop.post(path, charge(amount, card), key=key)
            assert again.status_code == status, (path, amount, again.text)
            assert again.headers["Idempotent-Replayed"] == "true"


async def scenario(shop: Shop) -> list[str]:
    settled_later: list[str] = []
    for index, number in enumerate(TEST_CARD_NUMBERS):
        settled_later += await card_journeys(shop, number, index)
    await trigger_journeys(shop)
    page = expect(await shop.get("", limit=100), 200)
    assert page["data"], "the list shows what was made"
    return settled_later


async def after_settlement(shop: Shop, purchases: list[str]) -> None:
    for transaction_id in purchases:
        refund = {"transaction_id": transaction_id, "amount": 1000, "reason": "partial"}
        expect(await shop.post("refund", refund), 201)
        too_much = {"transaction_id": transaction_id, "amount": 1_000_000}
        expect(await shop.post("refund", too_much), 422, "amount_exceeds_refundable")
        expect(await shop.get(f"/{transaction_id}"), 200)


# -- collecting what the system wrote --------------------------------------------------


async def database_dump(engine: AsyncEngine, crypto: FieldCrypto, evidence: Evidence) -> None:
    async with AsyncSession(engine) as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(text(f"SELECT t::text FROM {table.name} t"))).scalars()
            for row in rows:
                evidence.add(f"table {table.name}", row)
            # What a grep of the ciphertext cannot see: the plaintext of every sealed column.
            for column in table.columns:
                if not column.name.endswith(ENCRYPTED_SUFFIX):
                    continue
                name = column.name
                sealed = await session.execute(
                    text(f"SELECT id, {name} FROM {table.name} WHERE {name} IS NOT NULL")
                )
                for row_id, token in sealed:
                    plain = crypto.open(
                        token,
                        table=table.name,
                        column=name.removesuffix(ENCRYPTED_SUFFIX),
                        row_id=row_id,
                    )
                    evidence.add(f"table {table.name}.{name} (decrypted)", plain)


async def redis_dump(redis: Redis, evidence: Evidence) -> None:
    async for key in redis.scan_iter(count=1000):
        evidence.add("redis key", key)
        kind = (await redis.type(key)).decode()
        content: Any
        if kind == "string":
            content = [await redis.get(key)]
        elif kind == "hash":
            content = [part for pair in (await redis.hgetall(key)).items() for part in pair]
        elif kind == "list":
            content = await redis.lrange(key, 0, -1)
        elif kind == "set":
            content = list(await redis.smembers(key))
        elif kind == "zset":
            content = [member for member, _ in await redis.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            content = [
                part
                for _, fields in await redis.xrange(key)
                for pair in fields.items()
                for part in pair
            ]
        else:
            pytest.fail(f"Redis key {key!r} of a type this test cannot read: {kind}")
        for value in content:
            evidence.add(f"redis {key!r}", value)


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """create_app() points the root logger at the test's (captured) stderr: put the
    logging set-up back as it was, so later tests do not write to a closed stream."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


@pytest.fixture
async def merchant_key(make_committed_key: KeyFactory) -> str:
    return await make_committed_key(Scope.PAYMENTS_READ, Scope.PAYMENTS_WRITE)


@pytest.fixture
def debug_settings(settings: Settings) -> Settings:
    """Every log line the code has (DEBUG), rendered as in production (JSON); safe
    retries of trigger 903 given up after the first attempt rather than waited on
    (a deadline shorter than any call); a breaker the scenario's lost calls never open."""
    return msgspec.structs.replace(
        settings,
        core=msgspec.structs.replace(settings.core, log_level="DEBUG", log_json=True),
        processor=msgspec.structs.replace(
            settings.processor, processor_retry_deadline_s=1e-6, breaker_fail_max=1000
        ),
    )


@pytest.fixture
def committed_resources(
    debug_settings: Settings,
    committed_engine: AsyncEngine,
    redis_client: Redis,
    clock: FrozenClock,
    field_crypto: FieldCrypto,
    simulator: Simulator,
) -> Resources:
    """Sessions that really commit, and the processors as production composes them
    (the simulator behind its breaker, whose state lives in Redis)."""
    return lent_resources(
        debug_settings,
        engine=committed_engine,
        session_factory=async_sessionmaker(committed_engine, expire_on_commit=False),
        redis=redis_client,
        clock=clock,
        crypto=field_crypto,
        simulator=simulator,
    )


async def test_invariant_2_no_card_number_or_cvv_is_stored_or_logged(
    restore_logging: None,
    capsys: pytest.CaptureFixture[str],
    debug_settings: Settings,
    committed_resources: Resources,
    merchant_key: str,
    simulator: Simulator,
) -> None:
    resources = committed_resources
    evidence = Evidence()
    # Built here, not in a fixture: the log handler must write to capsys's stderr.
    app = create_app(debug_settings, resources=resources)
    headers = {"Authorization": f"Bearer {merchant_key}"}
    async with http_client(app, headers=headers) as client:
        shop = Shop(client)
        # Pass 1: the structured records, before any redaction.
        with capture_logs() as records:
            refund_later = await scenario(shop)
        assert records, "the scenario logs"
        for record in records:
            evidence.add("log record", record)
        # Pass 2: the same paths through the real pipeline, rendered to stderr.
        refund_later += await scenario(shop)
        async with resources.session_factory() as session:
            summary = await SettlementService(session, simulator).settle(everything=True)
            await session.commit()
        assert summary.marked > 0
        await after_settlement(shop, refund_later)

    for response in shop.responses:
        evidence.add(
            f"response {response.request.method} {response.request.url.path}", response.content
        )
        evidence.add("response headers", str(response.headers))
    await database_dump(resources.engine, resources.crypto, evidence)
    await redis_dump(resources.redis, evidence)
    captured = capsys.readouterr()
    evidence.add("stderr", captured.err)
    evidence.add("stdout", captured.out)

    assert '"logger": "gateway.simulator"' in captured.err, "rendered log lines were captured"
    assert evidence.count("table transactions") > 0
    assert evidence.count("table simulator_transactions") > 0
    assert evidence.count("table idempotency_keys.response_body_encrypted (decrypted)") > 0
    assert evidence.count("redis key") > 0, "the breaker keeps its state in Redis"
    assert evidence.leaks() == []
