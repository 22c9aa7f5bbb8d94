"""The processor's own record of a transaction, asked for live when a payment's
page is shown (a read-only lookup: safe to retry, never a charge)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.composition.resources import Resources
from gateway.payments.models import Transaction
from gateway.processors.port import ProcessorTransaction


@dataclass(frozen=True)
class ProcessorView:
    record: ProcessorTransaction | None
    error: str | None = None


async def processor_view(resources: Resources, transaction: Transaction) -> ProcessorView:
    processor = resources.processors.for_key(transaction.livemode)
    try:
        if transaction.processor_transaction_id:
            record = await processor.get_transaction(transaction.processor_transaction_id)
        else:
            record = await processor.find_by_reference(transaction.id)
    except Exception as error:  # noqa: BLE001 - an unreachable processor is shown, not raised
        return ProcessorView(None, f"the processor did not answer ({type(error).__name__})")
    return ProcessorView(record)
