"""A live stored card is a CIM profile at the sandbox, and an inbound
Authorize.Net webhook is settled through the connector (issue 17, point 1)."""

from __future__ import annotations

import re

from gateway.composition.resources import Resources
from gateway.core.clock import FrozenClock
from gateway.core.settings import Settings
from gateway.processors.port import Outcome
from gateway.vault.models import PaymentMethod
from gateway.vault.service import PaymentMethodService
from gateway.webhooks.processing import WebhookProcessing
from gateway.webhooks.signature import sign
from tests.composition.live_wire import Live, at_sandbox, sandbox_rows_text
from tests.fixtures.payments import TRIGGER_CARD, VISA, charge_body
from tests.fixtures.sandbox import RunningSandbox
from tests.processors import charge
from tests.webhooks import notification

CARD = {"number": VISA, "exp_month": 12, "exp_year": 2030, "cvv": "123"}


async def _token(resources: Resources, clock: FrozenClock, method_id: str) -> str:
    async with resources.session_factory() as session:
        method = await session.get(PaymentMethod, method_id)
        assert method is not None
        return PaymentMethodService(session, clock, resources.crypto).processor_token(method)


async def test_a_live_stored_card_is_a_cim_profile_charged_then_deleted(
    live: Live, sandbox: RunningSandbox, resources: Resources, clock: FrozenClock
) -> None:
    method = await live.post("/payment-methods", {"card": CARD}, status=201)
    assert (method["livemode"], method["card"]["last4"]) == (True, "1111")

    token = await _token(resources, clock, method["id"])
    assert re.fullmatch(r"\d+/\d+", token)  # customer profile / payment profile ids
    assert VISA not in await sandbox_rows_text(sandbox)
    paid = await live.post(
        "/payments/purchase",
        {"amount": 700, "currency": "USD", "payment_method": {"token": method["id"]}},
        status=201,
    )
    assert paid["status"] == "captured"
    assert (await at_sandbox(sandbox, paid["processor_transaction_id"])).amount == 700

    deleted = await live.delete(f"/payment-methods/{method['id']}")

    assert deleted.status_code == 204, deleted.text
    connector = sandbox.connector()
    try:
        refused = await connector.purchase(charge(700, token=token))
    finally:
        await connector.aclose()
    assert refused.outcome is Outcome.ERROR  # the customer profile is gone
    assert refused.processor_transaction_id is None


async def test_a_webhook_settles_a_lost_answer_with_the_sandboxs_truth(
    live: Live,
    sandbox: RunningSandbox,
    resources: Resources,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    # 901: the sandbox records the charge, then drops the connection.
    lost = await live.post(
        "/payments/purchase", charge_body(90100, number=TRIGGER_CARD), status=202
    )
    assert (lost["status"], lost["pending_reason"]) == ("pending", "unknown_outcome")
    connector = sandbox.connector()
    try:
        recorded = await connector.find_by_reference(lost["id"])
    finally:
        await connector.aclose()
    assert recorded is not None
    body = notification(recorded.processor_transaction_id, reference=lost["id"], amount="901.00")

    received = await live.client.post(
        "/api/v1/webhooks/authorize-net",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-ANET-Signature": sign(body, sandbox.config.signature_key),
        },
    )

    assert received.status_code == 200, received.text
    processing = WebhookProcessing(
        resources.session_factory,
        clock=clock,
        processors=resources.processors,
        crypto=resources.crypto,
        settings=settings,
    )
    outcome = await processing.process(received.json()["id"], last_attempt=False)
    assert outcome not in ("unmatched", "ignored")
    settled = await live.get(f"/payments/{lost['id']}")
    assert (settled["status"], settled["pending_reason"]) == ("captured", None)
    assert settled["processor_transaction_id"] == recorded.processor_transaction_id
