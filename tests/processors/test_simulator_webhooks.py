"""The webhooks the simulator owes the gateway (issue point 4): one per ledger change
Authorize.Net would notify, recorded in the same commit, in its exact format."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gateway.core.clock import FrozenClock
from gateway.core.settings import Settings
from gateway.processors.port import CaptureRequest, RefundRequest, VoidRequest
from gateway.processors.simulator import Simulator, SimulatorConfig
from gateway.processors.simulator.models import SimulatorWebhook
from gateway.processors.simulator.webhooks import WEBHOOK_ID, webhook_url
from gateway.webhooks.schemas import parse_notification
from tests.fixtures.app import make_settings
from tests.processors import REASON_CARD, charge, reference


async def owed(engine: AsyncEngine) -> list[tuple[str, str]]:
    """(event type, body) of every webhook recorded, oldest first."""
    async with AsyncSession(engine) as session:
        rows = (
            await session.execute(
                select(SimulatorWebhook.event_type, SimulatorWebhook.body).order_by(
                    SimulatorWebhook.created_at
                )
            )
        ).all()
    return [(event_type, body) for event_type, body in rows]


def event_types(recorded: list[tuple[str, str]]) -> list[str]:
    return [event_type.removeprefix("net.authorize.payment.") for event_type, _ in recorded]


async def test_a_purchase_owes_an_authcapture_webhook_in_authorize_nets_format(
    simulator: Simulator, committed_engine: AsyncEngine
) -> None:
    ref = reference()
    taken = await simulator.purchase(charge(1500, ref=ref))

    [(event_type, body)] = await owed(committed_engine)
    assert event_type == "net.authorize.payment.authcapture.created"
    # The amount is a JSON number with the currency's decimals, as Authorize.Net sends it.
    assert '"authAmount":15.00' in body
    assert re.search(r'"eventDate":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z"', body)
    document = json.loads(body)
    assert uuid.UUID(document["notificationId"])
    assert document["webhookId"] == WEBHOOK_ID
    payload = document["payload"]
    assert payload["id"] == taken.processor_transaction_id, "a string id"
    assert (payload["responseCode"], payload["entityName"]) == (1, "transaction")
    assert payload["merchantReferenceId"] == payload["invoiceNumber"] == ref
    assert payload["authCode"] == taken.auth_code
    # The gateway's own parser reads it, the amount exactly.
    assert str(parse_notification(body.encode()).payload.authAmount) == "15.00"


async def test_every_change_owes_its_own_event(
    simulator: Simulator, committed_engine: AsyncEngine
) -> None:
    authorized = await simulator.authorize(charge(2000))
    assert authorized.processor_transaction_id is not None
    auth_id = authorized.processor_transaction_id
    await simulator.capture(CaptureRequest(reference(), auth_id, 1500, "USD"))
    # A second capture is Authorize.Net's 311 "already captured": nothing new, no event.
    await simulator.capture(CaptureRequest(reference(), auth_id, 1500, "USD"))
    purchased = await simulator.purchase(charge(3000))
    assert purchased.processor_transaction_id is not None
    await simulator.void(VoidRequest(reference(), purchased.processor_transaction_id))
    await simulator.void(VoidRequest(reference(), purchased.processor_transaction_id))  # 310
    settled = await simulator.purchase(charge(4000))
    assert settled.processor_transaction_id is not None
    await simulator.settle(everything=True)
    refund = RefundRequest(reference(), settled.processor_transaction_id, 1000, "USD", "1111")
    refunded = await simulator.refund(refund)
    await simulator.purchase(charge(5000, postal_code="46282"))  # declined
    held_ref = reference()
    await simulator.purchase(charge(252_00, number=REASON_CARD, ref=held_ref))
    await simulator.review(held_ref, "approve")

    recorded = await owed(committed_engine)
    assert sorted(event_types(recorded)) == sorted(
        [
            "authorization.created",
            "priorAuthCapture.created",
            "authcapture.created",
            "void.created",
            "authcapture.created",
            "refund.created",
            "authcapture.created",
            "fraud.held",
            "fraud.approved",
        ]
    )
    bodies = {event_type: json.loads(body) for event_type, body in recorded}
    assert bodies["net.authorize.payment.priorAuthCapture.created"]["payload"]["authAmount"] == 15
    refund_payload = bodies["net.authorize.payment.refund.created"]["payload"]
    assert refund_payload["id"] == refunded.processor_transaction_id
    assert bodies["net.authorize.payment.fraud.held"]["payload"]["responseCode"] == 4
    declined = [
        json.loads(body)["payload"]
        for event_type, body in recorded
        if json.loads(body)["payload"]["responseCode"] == 2
    ]
    assert len(declined) == 1
    assert "fraudList" in bodies["net.authorize.payment.fraud.held"]["payload"]


async def test_a_charge_refused_before_recording_owes_nothing(
    simulator: Simulator, committed_engine: AsyncEngine
) -> None:
    await simulator.purchase(charge(20_00, number=REASON_CARD))  # reason 20: an error, no row
    assert await owed(committed_engine) == []


async def test_with_webhooks_off_nothing_is_owed(
    committed_engine: AsyncEngine, redis_client: Redis, clock: FrozenClock
) -> None:
    silent = Simulator(committed_engine, redis_client, clock, SimulatorConfig(webhooks=False))
    await silent.purchase(charge(1500))
    assert await owed(committed_engine) == []


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, "http://127.0.0.1:8000/api/v1/webhooks/simulator"),
        ({"GATEWAY_PORT": "9000"}, "http://127.0.0.1:9000/api/v1/webhooks/simulator"),
        ({"GATEWAY_HOST": "0.0.0.0"}, "http://127.0.0.1:8000/api/v1/webhooks/simulator"),
        ({"GATEWAY_HOST": "::1"}, "http://[::1]:8000/api/v1/webhooks/simulator"),
        (
            {"GATEWAY_SIMULATOR_WEBHOOK_URL": "https://hooks.example/in"},
            "https://hooks.example/in",
        ),
        ({"GATEWAY_SIMULATOR_WEBHOOK_URL": ""}, None),
    ],
)
def test_where_the_simulator_posts(environment: dict[str, str], expected: str | None) -> None:
    settings: Settings = make_settings("postgresql+asyncpg://x@h/d", "redis://h", environment)
    assert webhook_url(settings) == expected
    assert SimulatorConfig.from_settings(settings).webhooks is (expected is not None)
