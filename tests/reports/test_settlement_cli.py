"""`gateway report settlement` through click's runner, on the test database:
its CSV and JSON, its exit status (0 agreed, 1 differed, 2 misused) and its
merchant filter. The ledger is committed for real (the command opens its own
connections): our rows and the simulator's, settled and synced as `gateway
settle` does."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner, Result
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gateway.cli import main
from gateway.core.clock import FrozenClock
from gateway.core.settings import Settings
from gateway.merchants.service import MerchantService
from gateway.payments.models import Transaction
from gateway.payments.settlement import SettlementService
from gateway.processors.simulator import Simulator
from tests.fixtures.payments import transaction_row
from tests.processors import charge
from tests.support import closed_port

DATE = "2026-01-15"  # the clock's day below, in Los Angeles
CSV_COLUMNS = [
    "record", "date", "merchant_id", "processor", "batch_id", "settled_at", "currency",
    "processor_transaction_id", "transaction_id", "issue", "ledger_count", "ledger_amount",
    "processor_count", "processor_amount", "difference",
]  # fmt: skip


@dataclass(frozen=True)
class Ledger:
    shop: str  # a purchase of 1500 USD
    other: str  # a purchase of 900 USD
    shop_transaction: str


@pytest.fixture
def cli_env(
    database_url: str, test_redis_url: str, committed_engine: AsyncEngine, settings: Settings
) -> dict[str, str]:
    """The command reads what the test committed (`committed_engine` truncates
    afterwards), with the tests' keys."""
    secrets_ = settings.secrets
    assert secrets_.encryption_keys
    assert secrets_.fingerprint_key
    assert secrets_.blind_index_key
    return {
        "GATEWAY_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": test_redis_url,
        "GATEWAY_ENCRYPTION_KEYS": secrets_.encryption_keys,
        "GATEWAY_FINGERPRINT_KEY": secrets_.fingerprint_key,
        "GATEWAY_BLIND_INDEX_KEY": secrets_.blind_index_key,
        "GATEWAY_SETTLEMENT_CUTOFF": "16:00 America/Los_Angeles",
    }


@pytest.fixture
def day_clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))  # 04:00 in Los Angeles


@pytest.fixture
def simulator(
    committed_engine: AsyncEngine, redis_client: Redis, day_clock: FrozenClock
) -> Simulator:
    return Simulator(committed_engine, redis_client, day_clock)


@pytest.fixture
async def ledger(
    committed_engine: AsyncEngine, simulator: Simulator, day_clock: FrozenClock
) -> Ledger:
    at = day_clock.now()
    async with AsyncSession(committed_engine, expire_on_commit=False) as session:
        merchants = MerchantService(session, day_clock)
        shop = await merchants.create_merchant("Shop")
        other = await merchants.create_merchant("Other Shop")
        rows = []
        for merchant, amount in ((shop, 1500), (other, 900)):
            row = transaction_row(merchant, at, amount=amount, amount_captured=amount)
            charged = await simulator.purchase(charge(amount, ref=row.id))
            row.processor_transaction_id = charged.processor_transaction_id
            rows.append(row)
        session.add_all(rows)
        await session.commit()
        await SettlementService(session, simulator).settle(everything=True)
        await session.commit()
    return Ledger(shop=shop.id, other=other.id, shop_transaction=rows[0].id)


async def gateway(env: dict[str, str], *arguments: str) -> Result:
    # The command runs its own event loop: keep it off the test's.
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, main, list(arguments), env=env)


def rows(result: Result) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(result.stdout))
    assert reader.fieldnames == CSV_COLUMNS
    return list(reader)


def records(table: list[dict[str, str]], record: str) -> list[dict[str, str]]:
    return [row for row in table if row["record"] == record]


async def test_csv_lists_each_merchants_day_and_batches_and_exits_0_when_they_agree(
    cli_env: dict[str, str], ledger: Ledger
) -> None:
    result = await gateway(cli_env, "report", "settlement", "--date", DATE)

    assert result.exit_code == 0, result.output
    table = rows(result)
    assert {row["date"] for row in table} == {DATE}
    captures = {row["merchant_id"]: row for row in records(table, "capture")}
    assert {
        m: (r["currency"], r["ledger_count"], r["ledger_amount"]) for m, r in captures.items()
    } == {
        ledger.shop: ("USD", "1", "1500"),
        ledger.other: ("USD", "1", "900"),
    }
    batches = {row["merchant_id"]: row for row in records(table, "batch")}
    shop = batches[ledger.shop]
    assert (
        shop["processor"],
        shop["currency"],
        shop["ledger_amount"],
        shop["processor_amount"],
    ) == (
        "simulator",
        "USD",
        "1500",
        "1500",
    )
    assert (shop["ledger_count"], shop["processor_count"], shop["difference"]) == ("1", "1", "0")
    assert shop["batch_id"] == batches[ledger.other]["batch_id"] != ""
    assert datetime.fromisoformat(shop["settled_at"]) == datetime(2026, 1, 15, 12, tzinfo=UTC)
    assert records(table, "difference") == []

    only = await gateway(
        cli_env, "report", "settlement", "--date", DATE, "--merchant", ledger.other
    )
    assert only.exit_code == 0, only.output
    assert {row["merchant_id"] for row in rows(only)} == {ledger.other}

    empty = await gateway(cli_env, "report", "settlement", "--date", "2026-01-14")
    assert (empty.exit_code, rows(empty)) == (0, [])


async def test_json_carries_the_same_report(cli_env: dict[str, str], ledger: Ledger) -> None:
    result = await gateway(cli_env, "report", "settlement", "--date", DATE, "--format", "json")

    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    assert set(report) == {
        "date", "zone", "batches_settled", "activity", "agrees", "merchants", "unreachable"
    }  # fmt: skip
    assert (report["date"], report["zone"], report["agrees"]) == (
        DATE,
        "America/Los_Angeles",
        True,
    )
    assert report["batches_settled"] == {
        "from": "2026-01-15T08:00:00+00:00",
        "to": "2026-01-16T08:00:00+00:00",
    }
    shop = next(part for part in report["merchants"] if part["merchant_id"] == ledger.shop)
    assert shop["activity"] == [
        {
            "currency": "USD",
            "captures": {"count": 1, "amount": 1500},
            "refunds": {"count": 0, "amount": 0},
            "voids": {"count": 0, "amount": 0},
        }
    ]
    [batch] = shop["batches"]
    assert set(batch) == {
        "processor", "batch_id", "settled_at", "currency", "ledger", "reported", "difference"
    }  # fmt: skip
    totals = {"count": 1, "charges": 1500, "refunds": 0, "net": 1500}
    assert (batch["ledger"], batch["reported"], batch["difference"]) == (totals, totals, 0)
    assert shop["differences"] == []


async def test_an_altered_ledger_row_exits_1_naming_the_transaction(
    cli_env: dict[str, str], ledger: Ledger, committed_engine: AsyncEngine
) -> None:
    async with committed_engine.begin() as connection:
        await connection.execute(
            update(Transaction)
            .where(Transaction.id == ledger.shop_transaction)
            .values(amount_captured=1499)
        )

    result = await gateway(cli_env, "report", "settlement", "--date", DATE)

    assert result.exit_code == 1, result.output
    assert "differ" in result.stderr
    [difference] = records(rows(result), "difference")
    assert (difference["merchant_id"], difference["transaction_id"], difference["issue"]) == (
        ledger.shop,
        ledger.shop_transaction,
        "amount_differs",
    )
    assert (difference["ledger_amount"], difference["processor_amount"]) == ("1499", "1500")
    batch = next(row for row in records(rows(result), "batch") if row["merchant_id"] == ledger.shop)
    assert batch["difference"] == "1"
    # The other merchant's books still agree.
    other = await gateway(
        cli_env, "report", "settlement", "--date", DATE, "--merchant", ledger.other
    )
    assert other.exit_code == 0, other.output


async def test_a_batch_with_a_transaction_we_never_made_exits_1(
    cli_env: dict[str, str], ledger: Ledger, simulator: Simulator
) -> None:
    ghost = await simulator.purchase(charge(700))
    await simulator.settle(everything=True)

    result = await gateway(
        cli_env,
        "report",
        "settlement",
        "--date",
        DATE,
        "--merchant",
        ledger.shop,
        "--format",
        "json",
    )

    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["agrees"] is False
    [stranger] = [part for part in report["merchants"] if part["merchant_id"] is None]
    assert [(d["issue"], d["processor_transaction_id"], d["processor_amount"])
            for d in stranger["differences"]] == [
        ("missing_in_ledger", ghost.processor_transaction_id, 700)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--date", "2026-02-30"], "YYYY-MM-DD"),
        (["--date", "15/01/2026"], "YYYY-MM-DD"),
        ([], "Missing option '--date'"),
        (["--date", DATE, "--format", "xml"], "'xml' is not one of"),
        (["--date", DATE, "--merchant", "shop"], "not a merchant id"),
    ],
)
async def test_usage_errors_exit_2_saying_what_is_wrong(arguments: list[str], says: str) -> None:
    # Refused before anything is reached: servers that do not listen prove it.
    nowhere = {
        "GATEWAY_ENV": "test",
        "DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/none",
        "REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0",
    }
    result = await gateway(nowhere, "report", "settlement", *arguments)
    assert result.exit_code == 2, result.output
    assert says in result.stderr


async def test_an_unknown_merchant_exits_1(
    cli_env: dict[str, str], committed_engine: AsyncEngine
) -> None:
    result = await gateway(
        cli_env, "report", "settlement", "--date", DATE, "--merchant", "mer_0000000000000000"
    )
    assert result.exit_code == 1, result.output
    assert "no merchant mer_0000000000000000" in result.stderr
