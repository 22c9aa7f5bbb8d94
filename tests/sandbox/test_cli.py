"""`gateway sandbox serve` as a process, and the control commands against the
running sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from gateway.cli.main import main
from gateway.processors.authorize_net import answers, build
from gateway.processors.authorize_net.client import AuthorizeNetClient
from gateway.processors.authorize_net.messages import CreateTransactionResponse
from gateway.processors.port import Outcome, RefundRequest
from tests.fixtures.sandbox import RunningSandbox
from tests.sandbox.support import BY_AMOUNT, USD, charge, reference
from tests.support import closed_port


def _environment(sandbox: RunningSandbox) -> dict[str, str]:
    return {
        "GATEWAY_ENV": "test",
        "GATEWAY_SANDBOX_PORT": str(sandbox.config.port),
        "GATEWAY_SANDBOX_LOGIN_ID": sandbox.config.login_id,
        "GATEWAY_SANDBOX_TRANSACTION_KEY": sandbox.config.transaction_key,
    }


def _run(sandbox: RunningSandbox, *arguments: str) -> dict[str, object]:
    result = CliRunner().invoke(main, ["sandbox", *arguments, "--json"], env=_environment(sandbox))
    assert result.exit_code == 0, result.output
    # The sandbox's thread logs (JSON lines here) to the same redirected stdout.
    objects = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    (answer,) = [found for found in objects if "event" not in found]
    assert isinstance(answer, dict)
    return answer


async def test_settle_now_lets_a_charge_be_refunded(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    made = build.charge(sandbox.auth, charge(amount=700), capture=True, accepted_currencies=USD)
    charged = answers.transaction_result(await client.post(made, CreateTransactionResponse))
    charge_id = charged.processor_transaction_id
    assert charge_id is not None
    settled = _run(sandbox, "settle", "--now")
    assert charge_id in settled["settled"]  # type: ignore[operator]
    refund = RefundRequest(reference(), charge_id, 700, "USD", card_last4="1111")
    refunded = answers.transaction_result(
        await client.post(
            build.refund(sandbox.auth, refund, accepted_currencies=USD), CreateTransactionResponse
        )
    )
    assert refunded.outcome is Outcome.APPROVED


async def test_review_and_outage_commands(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    made = build.charge(
        sandbox.auth, charge(card=BY_AMOUNT, amount=25200), capture=True, accepted_currencies=USD
    )
    held = answers.transaction_result(await client.post(made, CreateTransactionResponse))
    assert held.processor_transaction_id is not None
    decided = _run(sandbox, "review", held.processor_transaction_id, "decline")
    assert decided == {"trans_id": held.processor_transaction_id, "status": "declined"}
    assert _run(sandbox, "outage", "on") == {"outage": True}
    assert _run(sandbox, "outage", "off") == {"outage": False}


def test_a_control_command_without_a_sandbox_fails_in_one_line(sandbox: RunningSandbox) -> None:
    environment = {**_environment(sandbox), "GATEWAY_SANDBOX_PORT": str(closed_port())}
    result = CliRunner().invoke(main, ["sandbox", "outage", "on"], env=environment)
    assert result.exit_code == 1
    assert result.output.startswith("gateway: sandbox: no sandbox answers at http://127.0.0.1:")


def test_serve_prints_its_url_and_login_id_but_never_the_key(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    port = closed_port()
    environment = {
        **os.environ,
        **_environment(sandbox),
        "GATEWAY_SANDBOX_PORT": str(port),
        "GATEWAY_SANDBOX_DATABASE_URL": sandbox.config.database_url,
        "GATEWAY_SANDBOX_WEBHOOK_URL": "",
        "GATEWAY_DATA_DIR": str(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "sandbox", "serve"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first == (
            f"sandbox: http://127.0.0.1:{port}/xml/v1/request.api"
            f" (login id {sandbox.config.login_id})"
        )
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)
    assert sandbox.config.transaction_key not in first + output
