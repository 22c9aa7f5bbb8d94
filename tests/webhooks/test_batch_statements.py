"""How many SQL statements processing an inbound event costs, so an N+1 or an
extra read fails (counted as tests/payments/test_query_counts.py counts them)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.core.clock import FrozenClock
from gateway.core.ids import new_id
from gateway.merchants.models import Merchant
from gateway.processors.simulator import Simulator
from gateway.webhooks.processing import WebhookProcessing
from tests.payments.test_query_counts import Statements, statements  # noqa: F401 - a fixture
from tests.processors import charge
from tests.webhooks.conftest import Deliver, simulator_webhook
from tests.webhooks.test_processing import event_row, pending_purchase, receive


async def test_a_pending_charge_finished_by_its_event_costs_a_bounded_number_of_statements(
    deliver: Deliver,
    processing: WebhookProcessing,
    simulator: Simulator,
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    merchant: Merchant,
    clock: FrozenClock,
    statements: Statements,  # noqa: F811 - the fixture imported above
) -> None:
    references = [new_id("txn") for _ in range(3)]
    event_ids = []
    async with session_factory() as session:
        session.add_all(pending_purchase(reference, merchant, clock) for reference in references)
        await session.commit()
    for reference in references:
        answer = await simulator.purchase(charge(1500, ref=reference))
        assert answer.processor_transaction_id is not None
        body = await simulator_webhook(
            engine, answer.processor_transaction_id, "authcapture.created"
        )
        event_ids.append(await receive(deliver, body))
    statements.clear()

    outcomes = await processing.process_batch(event_ids, retry_alone=None)

    assert outcomes == dict.fromkeys(event_ids, "applied")
    for event_id in event_ids:
        assert (await event_row(session_factory, event_id)).status == "processed"
    summary = statements.gateway_summary()[: -len(event_ids)]  # less the reads just above
    assert summary.count("SELECT webhook_events") == 1, "one read of the batch's events"
    assert summary.count("SELECT webhook_events FOR UPDATE") == len(event_ids)
    # The charge is read and locked once, by the record's match: the finalizer
    # is handed that lock (`Reserved.locked`), not a second SELECT.
    assert summary.count("SELECT transactions FOR UPDATE") == len(event_ids), summary
    # Per event: its lock, the charge locked as it is found, its children, its
    # idempotency key, reconciliation's finish (6), the event marked processed.
    assert len(summary) <= 1 + 10 * len(event_ids), summary
