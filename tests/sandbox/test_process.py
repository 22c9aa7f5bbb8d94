"""The sandbox as a process: refused in production, its own database and version
table, no card number kept, and its settings' defaults."""

from __future__ import annotations

import asyncpg
import httpx
import msgspec
import pytest
from click.testing import CliRunner

from gateway.cli.main import main
from gateway.core.devsecrets import with_development_secrets
from gateway.core.settings import load_settings
from gateway.processors.authorize_net import answers, build
from gateway.processors.authorize_net.client import AuthorizeNetClient
from gateway.processors.authorize_net.messages import (
    CreateCustomerProfileResponse,
    CreateTransactionResponse,
    GetTransactionDetailsResponse,
)
from gateway.processors.port import Outcome, TokenizeRequest
from gateway.sandbox.config import SandboxRefused, sandbox_config
from tests.fixtures.sandbox import RunningSandbox
from tests.sandbox.support import BY_AMOUNT, USD, VISA, charge, reference
from tests.support import TEST_CARD_NUMBERS


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.mark.parametrize("command", [["serve"], ["settle", "--now"], ["outage", "on"]])
def test_production_refuses_the_sandbox_in_one_line(command: list[str]) -> None:
    result = CliRunner().invoke(main, ["sandbox", *command], env={"GATEWAY_ENV": "production"})
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "gateway: sandbox: refused in production (GATEWAY_ENV=production)"
    ]


def test_the_settings_refuse_production_too() -> None:
    settings = load_settings({"GATEWAY_ENV": "test"})
    production = msgspec.structs.replace(settings.core, env="production")
    with pytest.raises(SandboxRefused):
        sandbox_config(msgspec.structs.replace(settings, core=production))


def test_defaults_follow_the_gateways_own_settings() -> None:
    settings = with_development_secrets(
        load_settings(
            {
                "GATEWAY_ENV": "test",
                "DATABASE_URL": "postgresql+asyncpg://gw:pw@db.local:5432/gateway",
                "GATEWAY_PORT": "8123",
                "GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS": f"{'A' * 128},{'B' * 128}",
            }
        )
    )
    config = sandbox_config(settings)
    assert config.port == 8090
    assert config.database_url == "postgresql+asyncpg://gw:pw@db.local:5432/gateway_sandbox"
    assert config.webhook_url == "http://127.0.0.1:8123/api/v1/webhooks/authorize-net"
    assert config.signature_key == "A" * 128
    assert len(config.transaction_key) == 16
    assert 8 <= len(config.login_id) <= 25
    assert config.transaction_key not in repr(config)


async def test_its_database_has_its_own_version_table(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    connection = await asyncpg.connect(_plain(sandbox.config.database_url), timeout=10)
    try:
        version = await connection.fetchval("SELECT version_num FROM sandbox_alembic_version")
        gateway_table = await connection.fetchval("SELECT to_regclass('alembic_version')")
    finally:
        await connection.close()
    assert version == "sandbox_0001"
    assert gateway_table is None


async def test_no_card_number_reaches_its_database(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    for card in (VISA, BY_AMOUNT):
        request = build.charge(
            sandbox.auth, charge(card=card), capture=True, accepted_currencies=USD
        )
        await client.post(request, CreateTransactionResponse)
    tokenize = TokenizeRequest(reference=f"pm_{reference()[4:]}", card=VISA)
    await client.post(
        build.create_customer_profile(sandbox.auth, tokenize), CreateCustomerProfileResponse
    )
    connection = await asyncpg.connect(_plain(sandbox.config.database_url), timeout=10)
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
        dumped = []
        for table in tables:
            rows = await connection.fetch(f'SELECT * FROM "{table["tablename"]}"')
            dumped += [str(dict(row)) for row in rows]
    finally:
        await connection.close()
    text = "\n".join(dumped)
    assert "1111" in text  # the last 4 are kept
    for number in TEST_CARD_NUMBERS:
        assert number not in text


async def test_a_held_charge_is_decided_through_the_control_surface(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    request = build.charge(
        sandbox.auth, charge(card=BY_AMOUNT, amount=25300), capture=False, accepted_currencies=USD
    )
    held = answers.transaction_result(await client.post(request, CreateTransactionResponse))
    assert held.outcome is Outcome.HELD
    trans_id = held.processor_transaction_id
    review = f"{sandbox.base_url}/_sandbox/review"
    async with httpx.AsyncClient(auth=sandbox.basic_auth, timeout=10) as http:
        decided = await http.post(review, json={"trans_id": trans_id, "decision": "approve"})
        assert decided.status_code == 200
        assert decided.json() == {"trans_id": trans_id, "status": "authorizedPendingCapture"}
        again = await http.post(review, json={"trans_id": trans_id, "decision": "decline"})
        assert again.status_code == 409
        unknown = await http.post(review, json={"trans_id": "1", "decision": "approve"})
        assert unknown.status_code == 404
    assert trans_id is not None
    details = await client.post(
        build.transaction_details(sandbox.auth, trans_id), GetTransactionDetailsResponse
    )
    assert details.transaction is not None
    assert details.transaction.transaction_status == "authorizedPendingCapture"
