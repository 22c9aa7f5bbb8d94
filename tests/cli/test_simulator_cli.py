"""`gateway settle` and `gateway simulator review|script|outage` through click's
runner, against the real database and Redis."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import Sequence
from datetime import timedelta

import pytest
from click.testing import CliRunner, Result
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.cli import main
from gateway.core.clock import FrozenClock, SystemClock
from gateway.core.crypto import FieldCrypto, generate_key
from gateway.core.db import create_session_factory
from gateway.core.ids import new_id
from gateway.core.settings import Settings, parse_cutoff
from gateway.merchants.service import MerchantService
from gateway.payments.models import Transaction
from gateway.processors.port import NotSentError, Outcome
from gateway.processors.simulator import Simulator
from gateway.processors.simulator.cutoff import last_cutoff
from gateway.processors.simulator.outage import OUTAGE_KEY
from gateway.vault.models import PaymentMethod
from gateway.vault.service import PaymentMethodService
from tests.processors import REASON_CARD, charge, tokenize_request
from tests.support import closed_port


@pytest.fixture
def cli_env(
    database_url: str, test_redis_url: str, committed_engine: AsyncEngine, settings: Settings
) -> dict[str, str]:
    """The commands commit for real (`committed_engine` truncates afterwards) and
    share the tests' keys, so what one seals the other opens."""
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
    }


@pytest.fixture
def simulator(committed_engine: AsyncEngine, redis_client: Redis, clock: FrozenClock) -> Simulator:
    return Simulator(committed_engine, redis_client, clock)


async def gateway(env: dict[str, str], *arguments: str) -> Result:
    # The commands run their own event loop: keep it off the test's.
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, main, list(arguments), env=env)


def as_json(result: Result) -> dict[str, object]:
    assert result.exit_code == 0, result.output
    loaded: dict[str, object] = json.loads(result.stdout)
    return loaded


# -- settle ------------------------------------------------------------------------


async def test_settle_takes_what_came_before_the_last_cutoff_and_marks_our_rows(
    cli_env: dict[str, str], committed_engine: AsyncEngine, redis_client: Redis
) -> None:
    # The command runs on the wall clock: place the charges on either side of its
    # last cut-off (a charge at the cut-off itself waits for the next batch).
    cutoff = last_cutoff(SystemClock().now(), parse_cutoff("16:00 America/Los_Angeles"))
    clock = FrozenClock(cutoff - timedelta(seconds=1))
    simulator = Simulator(committed_engine, redis_client, clock)
    our_id = new_id("txn")
    before = await simulator.purchase(charge(1500, ref=our_id))
    clock.set(cutoff)
    at_cutoff = await simulator.purchase(charge(1500))
    async with create_session_factory(committed_engine)() as session:
        merchant = await MerchantService(session, clock).create_merchant("Shop")
        ours = Transaction(
            id=our_id,
            merchant_id=merchant.id, livemode=False, type="purchase", status="captured",
            amount=1500, currency="USD", amount_captured=1500, amount_refunded=0, metadata_={},
            processor="simulator", processor_transaction_id=before.processor_transaction_id,
            created_at=clock.now(), updated_at=clock.now(),
        )  # fmt: skip
        session.add(ours)
        await session.commit()

    report = as_json(await gateway(cli_env, "settle", "--json"))

    assert report["settled"] == [before.processor_transaction_id]
    assert report["marked"] == 1
    assert report["batch_id"] is not None
    assert report["cutoff"] is not None
    async with committed_engine.connect() as connection:
        settled_at = await connection.scalar(
            select(Transaction.settled_at).where(Transaction.id == ours.id)
        )
    assert settled_at is not None

    everything = as_json(await gateway(cli_env, "settle", "--now", "--json"))
    assert everything["settled"] == [at_cutoff.processor_transaction_id]
    assert everything["cutoff"] is None

    nothing = await gateway(cli_env, "settle")
    assert nothing.exit_code == 0, nothing.output
    assert "nothing to settle" in nothing.output


# -- simulator review ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "status"), [("approve", "capturedPendingSettlement"), ("decline", "declined")]
)
async def test_review_decides_a_held_charge(
    cli_env: dict[str, str], simulator: Simulator, decision: str, status: str
) -> None:
    request = charge(252_00, number=REASON_CARD)
    held = await simulator.purchase(request)
    assert held.outcome is Outcome.HELD

    decided = as_json(
        await gateway(cli_env, "simulator", "review", request.reference, decision, "--json")
    )

    assert decided["status"] == status
    assert decided["processor_transaction_id"] == held.processor_transaction_id
    assert decided["reference"] == request.reference
    human = await gateway(cli_env, "simulator", "review", request.reference, decision)
    assert human.exit_code == 1  # no longer held


async def test_review_of_an_unknown_transaction_fails(cli_env: dict[str, str]) -> None:
    result = await gateway(cli_env, "simulator", "review", new_id("txn"), "approve")
    assert result.exit_code == 1
    assert "no transaction" in result.output


# -- simulator script ------------------------------------------------------------------


async def _stored_payment_method(
    committed_engine: AsyncEngine,
    simulator: Simulator,
    field_crypto: FieldCrypto,
    *,
    livemode: bool,
) -> tuple[str, str]:
    """A payment method of a committed merchant, tokenized at the simulator."""
    stored = await simulator.tokenize(tokenize_request())
    async with create_session_factory(committed_engine)() as session:
        merchant = await MerchantService(session, SystemClock()).create_merchant("Scripted")
        method = PaymentMethod(
            id=new_id("pm"),
            merchant_id=merchant.id,
            livemode=livemode,
            processor="simulator",
            card_brand=stored.brand,
            card_last4=stored.last4,
            card_exp_month=stored.exp_month,
            card_exp_year=stored.exp_year,
            card_fingerprint="f" * 64,
            created_at=SystemClock().now(),
        )
        PaymentMethodService(session, SystemClock(), field_crypto).seal_token(method, stored.token)
        session.add(method)
        await session.commit()
    return method.id, stored.token


async def test_script_queues_outcomes_for_a_payment_method(
    cli_env: dict[str, str],
    simulator: Simulator,
    committed_engine: AsyncEngine,
    field_crypto: FieldCrypto,
) -> None:
    method_id, token = await _stored_payment_method(
        committed_engine, simulator, field_crypto, livemode=False
    )

    queued = as_json(
        await gateway(cli_env, "simulator", "script", method_id, "decline:27,timeout", "--json")
    )

    assert queued == {"payment_method": method_id, "steps": ["decline:27", "timeout"]}
    declined = await simulator.purchase(charge(1500, token=token))
    assert (declined.outcome, declined.reason_code) == (Outcome.DECLINED, "27")


async def test_script_refuses_a_live_payment_method(
    cli_env: dict[str, str],
    simulator: Simulator,
    committed_engine: AsyncEngine,
    field_crypto: FieldCrypto,
) -> None:
    method_id, _ = await _stored_payment_method(
        committed_engine, simulator, field_crypto, livemode=True
    )
    result = await gateway(cli_env, "simulator", "script", method_id, "decline")
    assert result.exit_code == 2


async def test_script_is_for_test_mode_only(
    cli_env: dict[str, str], authenticated_redis_url: str
) -> None:
    production = {
        **cli_env,
        "GATEWAY_ENV": "production",
        "REDIS_URL": authenticated_redis_url,
        "GATEWAY_ENCRYPTION_KEYS": generate_key("k1"),
        "GATEWAY_FINGERPRINT_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "GATEWAY_BLIND_INDEX_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS": secrets.token_hex(64).upper(),
        "GATEWAY_DASHBOARD_PASSWORD": "not-a-real-password",
        "GATEWAY_METRICS_TOKEN": "a-metrics-scrape-token",
    }
    result = await gateway(production, "simulator", "script", new_id("pm"), "decline")
    assert result.exit_code == 2
    assert "test mode only" in result.output


# -- simulator outage ------------------------------------------------------------------


async def test_outage_on_refuses_every_call_until_off(
    cli_env: dict[str, str], simulator: Simulator, redis_client: Redis
) -> None:
    assert as_json(await gateway(cli_env, "simulator", "outage", "on", "--json")) == {
        "outage": True
    }
    assert await redis_client.exists(OUTAGE_KEY)
    with pytest.raises(NotSentError):
        await simulator.purchase(charge(1500))

    off = await gateway(cli_env, "simulator", "outage", "off")
    assert off.exit_code == 0, off.output
    assert "outage off" in off.output
    assert (await simulator.purchase(charge(1500))).outcome is Outcome.APPROVED


async def test_outage_fails_when_redis_is_unreachable(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "REDIS_URL": f"redis://127.0.0.1:{closed_port()}"}
    result = await gateway(env, "simulator", "outage", "on")
    assert result.exit_code == 1
    assert "Redis" in result.output


# -- usage -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        (["simulator", "script", "pm_0000000000000000", "decline"], 1),
        (["simulator", "script", "1:2", "approve"], 2),
        (["simulator", "review", "mer_0000000000000000", "approve"], 2),
        (["simulator", "review", "txn_0000000000000000", "maybe"], 2),
        (["simulator", "review", "txn_0000000000000000"], 2),
        (["simulator", "script", "pm_0000000000000000", "approve,sometimes"], 2),
        (["simulator", "outage", "maybe"], 2),
        (["settle", "--later"], 2),
    ],
)
async def test_exit_codes(cli_env: dict[str, str], arguments: Sequence[str], code: int) -> None:
    result = await gateway(cli_env, *arguments)
    assert result.exit_code == code, result.output


async def test_help_is_there_for_every_command(cli_env: dict[str, str]) -> None:
    top = await gateway(cli_env, "--help")
    assert "settle" in top.output
    assert "simulator" in top.output
    for command in (
        ["settle"],
        ["simulator", "review"],
        ["simulator", "script"],
        ["simulator", "outage"],
    ):
        assert (await gateway(cli_env, *command, "--help")).exit_code == 0
    script_help = await gateway(cli_env, "simulator", "script", "--help")
    assert "PM_ID" in script_help.output
