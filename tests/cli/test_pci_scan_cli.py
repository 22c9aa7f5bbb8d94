"""`gateway pci-scan` against the real database, Redis and log files.

(a) a clean system passes and says what it searched; (b) a card number or CVV
planted in a table, in Redis (plain, zlib-compressed, inside a real RQ job) and
in a log file is reported, masked, where it is; (c) every test card through
every payment path of the real HTTP API leaves nothing for the scan to find in
the database, in Redis or in the log the process wrote (DESIGN.md invariant 2).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import structlog
from click.testing import CliRunner, Result
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from gateway.app import create_app
from gateway.cli import main
from gateway.composition.process import lent_resources
from gateway.composition.resources import Resources
from gateway.core.card_numbers import detect_brand
from gateway.core.clock import FrozenClock
from gateway.core.crypto import FieldCrypto, KeyRing, generate_key
from gateway.core.embedded import embedded_redis
from gateway.core.ids import new_id
from gateway.core.queues import rq_queue
from gateway.core.settings import Settings
from gateway.merchants.scopes import Scope
from gateway.merchants.service import MerchantService
from gateway.payments.settlement import SettlementService
from gateway.processors.simulator import Simulator, SimulatorConfig
from gateway.sandbox.database import ensure_database, migrate
from gateway.vault.models import PaymentMethod
from gateway.vault.pci_scan import mask_number, redis_url_for_db
from tests.fixtures.database import _admin
from tests.fixtures.payments import charge_body
from tests.fixtures.services import Services
from tests.support import TEST_CARD_NUMBERS, http_client

# The scan reads every database of its Redis server, and the shared test server's
# database 9 is written and flushed by whatever other tests run at the same time:
# these tests get a Redis server of their own, configured at database 9 like the
# others, with planted data in a second database to prove that all are searched.
CONFIGURED_DB = 9
PLANT_DB = 13


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with embedded_redis(tmp_path_factory.mktemp("pci-redis")) as url:
        yield url


@pytest.fixture
def redis_url(private_redis: str) -> Iterator[str]:
    client = SyncRedis.from_url(private_redis)
    client.flushall()
    yield redis_url_for_db(private_redis, CONFIGURED_DB)
    client.flushall()
    client.close()


@pytest.fixture
async def app_redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def plant_redis(redis_url: str) -> Iterator[SyncRedis]:
    client = SyncRedis.from_url(redis_url_for_db(redis_url, PLANT_DB))
    yield client
    client.close()


@pytest.fixture
def cli_env(database_url: str, redis_url: str, committed_engine: AsyncEngine) -> dict[str, str]:
    """`committed_engine` truncates every table afterwards."""
    return {"GATEWAY_ENV": "test", "DATABASE_URL": database_url, "REDIS_URL": redis_url}


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The command (and create_app) point the root logger at their own stream: put
    the logging set-up back, so later tests do not write to a closed stream."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


async def pci_scan(env: dict[str, str], *arguments: str) -> Result:
    # The command runs its own event loop: keep it off the test's.
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, main, ["pci-scan", *arguments], env=env)


def report_of(result: Result, exit_code: int) -> dict[str, Any]:
    assert result.exit_code == exit_code, result.output
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


async def live_tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            )
        )
        return set(rows.scalars())


# -- (a) clean ---------------------------------------------------------------------------


async def test_a_clean_system_passes_and_says_what_was_searched(
    cli_env: dict[str, str],
    committed_engine: AsyncEngine,
    app_redis: Redis,
    restore_logging: None,
    tmp_path: Path,
) -> None:
    await app_redis.set("breaker:simulator", "closed")
    await app_redis.hset("rq:job:clean", mapping={"data": zlib.compress(b"txn_06H012EF380RQHN8")})
    log = tmp_path / "gateway.log"
    log.write_text(
        '{"event": "request", "path": "/api/v1/payments/purchase", "status": 201}\n'
        '{"event": "card", "number": "[REDACTED]", "cvv": "[REDACTED]", "last4": "1111"}\n'
        '{"event": "processor", "processor_transaction_id": "60000000001"}\n'
    )

    report = report_of(await pci_scan(cli_env, str(log), "--json"), 0)

    assert report["hits"] == []
    assert report["hit_count"] == 0
    assert set(report["table_rows"]) == await live_tables(committed_engine)
    assert report["tables"] == len(report["table_rows"]) > 0
    assert report["rows"] >= report["table_rows"]["alembic_version"] == 1
    assert report["redis_databases"] == [CONFIGURED_DB]
    assert report["redis_keys"] == report["redis_values"] == 2
    assert report["redis_inflated"] == 1
    assert report["files"] == [str(log)]
    assert report["lines"] == 3

    human = await pci_scan(cli_env, str(log))
    assert human.exit_code == 0, human.output
    assert human.output.startswith("searched:\n")
    assert re.search(r"database  \d+ tables, \d+ rows", human.output)
    assert "alembic_version 1" in human.output
    assert "redis     db 9: 2 keys, 2 values (1 inflated)" in human.output
    assert f"1 files, 3 lines\n            {log}\n" in human.output
    assert human.output.rstrip().endswith("no card number or CVV found")


# -- (b) planted -------------------------------------------------------------------------


@pytest.mark.plants_card_data
async def test_planted_card_numbers_and_cvvs_are_reported_masked_where_they_are(
    cli_env: dict[str, str],
    committed_engine: AsyncEngine,
    clock: FrozenClock,
    plant_redis: SyncRedis,
    restore_logging: None,
    tmp_path: Path,
) -> None:
    keys = generate_key("scan")
    sealed = KeyRing.parse(keys)
    other = KeyRing.parse(generate_key("gone"))
    method_id = new_id("pm")
    async with AsyncSession(committed_engine, expire_on_commit=False) as session:
        leaky = await MerchantService(session, clock).create_merchant("Shop 4111 1111 1111 1111")
        await MerchantService(session, clock).create_merchant("Clean Shop 60000000001")
        await session.flush()
        # Sealed: visible only to a scan that opens it; a key the scan lacks is counted.
        session.add(
            PaymentMethod(
                id=method_id,
                merchant_id=leaky.id,
                livemode=False,
                processor="simulator",
                holder_name_encrypted=sealed.encrypt(
                    "Pat 2223000010309703",
                    table="payment_methods",
                    column="holder_name",
                    row_id=method_id,
                ),
                customer_email_encrypted=other.encrypt(
                    "pat@example.com",
                    table="payment_methods",
                    column="customer_email",
                    row_id=method_id,
                ),
                card_brand="mastercard",
                card_last4="9703",
                card_exp_month=12,
                card_exp_year=2030,
                card_fingerprint="f" * 64,
                created_at=clock.now(),
            )
        )
        await session.commit()
    plant_redis.set("pci-test:plain", "card 5424000000000015 charged")
    plant_redis.set("pci-test:zlib", zlib.compress(b'{"number": "4007000000027", "cvv": "737"}'))
    plant_redis.rpush("card:6011000000000012", "x")
    # A real RQ job: the gateway's queues serialize it as JSON and RQ zlib-compresses it.
    job = rq_queue("webhooks", plant_redis).enqueue(
        "jobs.no_such_job", 370000000000002, {"cvv": "4821"}
    )
    log = tmp_path / "app.log"
    log.write_text('{"event": "ok"}\n{"event": "oops", "number": "3088000000000017"}\ncvv=737\n')
    planted = ["4111111111111111", "5424000000000015", "4007000000027", "6011000000000012"]
    planted += ["370000000000002", "3088000000000017", "2223000010309703"]

    env = cli_env | {"GATEWAY_ENCRYPTION_KEYS": keys}
    result = await pci_scan(env, str(log), "--json")
    report = report_of(result, 1)

    found = {
        (hit["source"], hit["location"], hit["position"], hit["kind"], hit["masked"])
        for hit in report["hits"]
    }
    plain, zipped = f"db {PLANT_DB} key pci-test:plain", f"db {PLANT_DB} key pci-test:zlib"
    card_key, rq_job = (
        f"db {PLANT_DB} key card:601100******0012",
        f"db {PLANT_DB} key rq:job:{job.id}",
    )
    assert found == {
        ("database", "merchants", f"id={leaky.id}", "card_number", "411111******1111"),
        (
            "database",
            "payment_methods",
            f"id={method_id} holder_name_encrypted (decrypted)",
            "card_number",
            "222300******9703",
        ),
        ("redis", plain, "value", "card_number", "542400******0015"),
        ("redis", zipped, "value (inflated)", "card_number", "4007*****0027"),
        ("redis", zipped, "value (inflated)", "cvv", "***"),
        ("redis", card_key, "key name", "card_number", "601100******0012"),
        ("redis", rq_job, "field data (inflated)", "card_number", "3700*******0002"),
        ("redis", rq_job, "field data (inflated)", "cvv", "***"),
        # RQ also keeps the call's repr, in the clear.
        ("redis", rq_job, "field description", "card_number", "3700*******0002"),
        ("redis", rq_job, "field description", "cvv", "***"),
        ("file", str(log), "line 2", "card_number", "308800******0017"),
        ("file", str(log), "line 3", "cvv", "***"),
    }
    assert report["hit_count"] == len(report["hits"]) == len(found)
    assert report["redis_databases"] == [PLANT_DB]
    assert (report["sealed_values"], report["sealed_unreadable"]) == (1, 1)
    assert {hit["rule"] for hit in report["hits"]} == {"test_card", "key:cvv"}
    excerpts = [hit["excerpt"] for hit in report["hits"]]
    assert '{"number": "4007*****0027", "cvv": "***"}' in excerpts
    for number in planted:
        assert number not in result.output
        assert mask_number(number) in result.output
    assert not re.search(r"cvv\W+(737|4821)", result.output)

    human = await pci_scan(env, str(log))
    assert human.exit_code == 1, human.output
    assert "12 hits:" in human.output
    assert "warning: 1 sealed values" in human.output
    assert "SOURCE    WHERE" in human.output
    assert f"merchants id={leaky.id}" in human.output
    assert "Shop 411111******1111" in human.output
    for number in planted:
        assert number not in human.output


async def test_a_configured_pattern_catches_cards_no_rule_knows(
    cli_env: dict[str, str], plant_redis: SyncRedis, restore_logging: None
) -> None:
    # 9100... has no brand; a processor's private test range, say.
    plant_redis.set("pci-test:private", "ref 9100000000000000")
    assert (await pci_scan(cli_env, "--json")).exit_code == 0
    report = report_of(await pci_scan(cli_env, "--pattern", "^9100", "--json"), 1)
    assert [(hit["rule"], hit["masked"]) for hit in report["hits"]] == [
        ("pattern", "910000******0000")
    ]


@pytest.mark.parametrize(
    "arguments", [["--pattern", "(unclosed"], ["/no/such/file.log"], ["--no-such-option"]]
)
async def test_usage_errors_exit_2(
    cli_env: dict[str, str], restore_logging: None, arguments: list[str]
) -> None:
    result = await pci_scan(cli_env, *arguments)
    assert result.exit_code == 2, result.output


# -- (c) the whole payment flow leaves nothing ----------------------------------------------

CVV, AMEX_CVV = "737", "4821"
DECLINING_ZIP = "46282"
ADDRESS = {"line1": "1 Main St", "city": "Indianapolis", "postal_code": "46201", "country": "US"}
TRIGGER_CARD = "4222222222222"
# ANET.md section 9, on the trigger card: declined, processing error, held for
# review, recorded then timed out, timed out with nothing recorded.
TRIGGERS = [("purchase", 200, 402), ("purchase", 1_900, 502), ("purchase", 25_200, 202)]
TRIGGERS += [("purchase", 90_100, 202), ("authorize", 90_100, 202), ("purchase", 90_200, 202)]


class Shop:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def post(
        self, path: str, body: dict[str, Any], status: int, *, under: str = "payments"
    ) -> dict[str, Any]:
        response = await self.client.post(
            f"/api/v1/{under}/{path}".rstrip("/"),
            json=body,
            headers={"Idempotency-Key": f"pci-{uuid.uuid4()}"},
        )
        assert response.status_code == status, (path, response.text)
        result: dict[str, Any] = response.json()
        return result

    async def tokenize(self, number: str, index: int) -> str:
        card = charge(0, number)["payment_method"]["card"]
        body = {"card": card, "customer": {"id": f"cus-{index}"}, "billing_address": ADDRESS}
        method = await self.post("", body, 201, under="payment-methods")
        return str(method["id"])

    async def delete_token(self, token: str) -> None:
        response = await self.client.delete(f"/api/v1/payment-methods/{token}")
        assert response.status_code == 204, response.text


def charge(amount: int, number: str, **extra: Any) -> dict[str, Any]:
    cvv = AMEX_CVV if detect_brand(number) == "amex" else CVV
    body = charge_body(amount, number=number, cvv=cvv, **extra)
    body["payment_method"]["card"]["holder_name"] = "Pat Cardholder"
    return body


async def every_path(shop: Shop, number: str, index: int) -> str:
    """Purchase and void, authorize and capture, authorize and cancel, a decline;
    returns a purchase to refund once settled."""
    purchase = await shop.post("purchase", charge(1111 + index, number), 201)
    await shop.post("refund", {"transaction_id": purchase["id"]}, 201)  # before settlement: a void
    authorized = await shop.post("authorize", charge(2222 + index, number), 201)
    await shop.post("capture", {"transaction_id": authorized["id"]}, 201)
    cancelled = await shop.post("authorize", charge(3333 + index, number), 201)
    await shop.post("cancel", {"transaction_id": cancelled["id"]}, 200)
    declined = charge(
        4444 + index, number, billing_address=ADDRESS | {"postal_code": DECLINING_ZIP}
    )
    await shop.post("purchase", declined, 402)
    kept = charge(
        5555 + index,
        number,
        billing_address=ADDRESS,
        customer={"id": f"cus-{index}", "email": "pat@example.com"},
        description="card payment",
    )
    return str((await shop.post("purchase", kept, 201))["id"])


def token_charge(amount: int, token: str) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD", "payment_method": {"token": token}}


async def every_token_path(shop: Shop, number: str, index: int) -> None:
    """The card stored as a token, then charged, authorized, captured, voided, deleted."""
    token = await shop.tokenize(number, index)
    purchase = await shop.post("purchase", token_charge(6666 + index, token), 201)
    await shop.post("refund", {"transaction_id": purchase["id"]}, 201)
    authorized = await shop.post("authorize", token_charge(7777 + index, token), 201)
    await shop.post("capture", {"transaction_id": authorized["id"]}, 201)
    await shop.delete_token(token)


@pytest.fixture
async def merchant_key(committed_engine: AsyncEngine, clock: FrozenClock) -> str:
    async with AsyncSession(committed_engine, expire_on_commit=False) as session:
        service = MerchantService(session, clock)
        merchant = await service.create_merchant("PCI Scan Shop")
        issued = await service.create_key(
            merchant.id, [Scope.PAYMENTS_READ, Scope.PAYMENTS_WRITE], livemode=False
        )
        await session.commit()
    return issued.secret


@pytest.fixture
def private_simulator(
    committed_engine: AsyncEngine, app_redis: Redis, clock: FrozenClock, settings: Settings
) -> Simulator:
    """On the private Redis (its outage switch lives there); its tables are
    truncated with every other by `committed_engine`."""
    return Simulator(committed_engine, app_redis, clock, SimulatorConfig.from_settings(settings))


@pytest.fixture
def debug_settings(settings: Settings) -> Settings:
    """Every log line the code has, rendered as in production (JSON); a retry
    deadline too short to wait on should safe retries happen; a breaker that the
    timeout triggers (each a breaker failure) never open."""
    return msgspec.structs.replace(
        settings,
        core=msgspec.structs.replace(settings.core, log_level="DEBUG", log_json=True),
        processor=msgspec.structs.replace(
            settings.processor, processor_retry_deadline_s=0.01, breaker_fail_max=1000
        ),
    )


@pytest.fixture
def committed_app_resources(
    debug_settings: Settings,
    committed_engine: AsyncEngine,
    app_redis: Redis,
    clock: FrozenClock,
    field_crypto: FieldCrypto,
    private_simulator: Simulator,
) -> Resources:
    return lent_resources(
        debug_settings,
        engine=committed_engine,
        session_factory=async_sessionmaker(committed_engine, expire_on_commit=False),
        redis=app_redis,
        clock=clock,
        crypto=field_crypto,
        # Behind the breaker and safe retries, as the service runs it.
        simulator=private_simulator,
    )


async def test_every_test_card_through_every_payment_path_leaves_nothing_to_find(
    cli_env: dict[str, str],
    debug_settings: Settings,
    committed_app_resources: Resources,
    merchant_key: str,
    private_simulator: Simulator,
    restore_logging: None,
    tmp_path: Path,
) -> None:
    resources = committed_app_resources
    app = create_app(debug_settings, resources=resources)
    # The process's log, as production renders it, into a file for the scan.
    log = tmp_path / "gateway.log"
    root = logging.getLogger()
    file_handler = logging.FileHandler(log, encoding="utf-8")
    file_handler.setFormatter(root.handlers[0].formatter)
    root.addHandler(file_handler)
    try:
        async with http_client(app, headers={"Authorization": f"Bearer {merchant_key}"}) as client:
            shop = Shop(client)
            refund_later = []
            for index, number in enumerate(TEST_CARD_NUMBERS):
                refund_later.append(await every_path(shop, number, index))
                await every_token_path(shop, number, index)
            trigger_token = await shop.tokenize(TRIGGER_CARD, 99)
            for path, amount, status in TRIGGERS:
                await shop.post(path, charge(amount, TRIGGER_CARD), status)
                await shop.post(path, token_charge(amount, trigger_token), status)
            async with resources.session_factory() as session:
                await SettlementService(session, private_simulator).settle(everything=True)
                await session.commit()
            for transaction_id in refund_later:
                refund = {"transaction_id": transaction_id, "amount": 1000}
                await shop.post("refund", refund, 201)
    finally:
        root.removeHandler(file_handler)
        file_handler.close()
    written = log.read_text()
    assert '"event": "simulator.answered"' in written, "the app's log lines reached the file"

    # The scan opens sealed columns with the keys the app sealed them with.
    env = cli_env | {"GATEWAY_ENCRYPTION_KEYS": str(debug_settings.secrets.encryption_keys)}
    result = await pci_scan(env, str(log), "--json")
    report = report_of(result, 0)

    assert report["hits"] == [], report["hits"]
    assert report["table_rows"]["transactions"] > 0
    assert report["table_rows"]["simulator_transactions"] > 0
    assert report["table_rows"]["idempotency_keys"] > 0
    assert report["table_rows"]["payment_methods"] == len(TEST_CARD_NUMBERS) + 1
    assert report["table_rows"]["simulator_payment_methods"] == len(TEST_CARD_NUMBERS) + 1
    assert report["sealed_values"] > 0
    assert report["sealed_unreadable"] == 0
    assert report["lines"] == len(written.splitlines()) > 0
    assert report["files"] == [str(log)]


# -- the sandbox's database --------------------------------------------------------------


@pytest.fixture
async def sandbox_database(services: Services, database_url: str) -> AsyncIterator[str]:
    """The sandbox's schema, as `gateway sandbox serve` migrates it, in the database
    development would give it (`<gateway database>_sandbox`)."""
    name = f"{make_url(database_url).database}_sandbox"
    admin = services.postgres_admin_url
    await _admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    await ensure_database(url)
    engine = create_async_engine(url)
    try:
        await migrate(engine)
        yield url
    finally:
        await engine.dispose()
        await _admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_the_sandbox_database_is_its_own_source(
    cli_env: dict[str, str], sandbox_database: str, restore_logging: None
) -> None:
    env = cli_env | {"GATEWAY_SANDBOX_DATABASE_URL": sandbox_database}
    report = report_of(await pci_scan(env, "--json"), 0)
    sandbox = report["sandbox_database"]
    assert sandbox["table_rows"]["sandbox_alembic_version"] == 1
    assert "simulator_transactions" in sandbox["table_rows"]
    assert "sandbox_alembic_version" not in report["table_rows"]  # the gateway's database
    human = await pci_scan(env)
    assert re.search(r"sandbox   \d+ tables, \d+ rows", human.output)

    engine = create_async_engine(sandbox_database)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE leak (note text)"))
            await connection.execute(text("INSERT INTO leak VALUES ('card 5555555555554444')"))
    finally:
        await engine.dispose()
    report = report_of(await pci_scan(env, "--json"), 1)
    (hit,) = report["hits"]
    assert (hit["source"], hit["location"]) == ("sandbox", "leak")
    assert "5555555555554444" not in json.dumps(report)


def _development(cli_env: dict[str, str], data_dir: Path) -> dict[str, str]:
    return cli_env | {"GATEWAY_ENV": "development", "GATEWAY_DATA_DIR": str(data_dir)}


async def test_development_without_a_sandbox_database_scans_none(
    cli_env: dict[str, str], tmp_path: Path, restore_logging: None
) -> None:
    report = report_of(await pci_scan(_development(cli_env, tmp_path), "--json"), 0)
    assert report["sandbox_database"] is None


async def test_development_scans_the_default_sandbox_database_when_it_exists(
    cli_env: dict[str, str], sandbox_database: str, tmp_path: Path, restore_logging: None
) -> None:
    report = report_of(await pci_scan(_development(cli_env, tmp_path), "--json"), 0)
    assert report["sandbox_database"]["table_rows"]["sandbox_alembic_version"] == 1
