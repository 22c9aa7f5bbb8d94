"""Where reconciliation looks for a transaction at the processor (ANET.md §2, §4).

A charge or a refund carries our id as its invoiceNumber, so the processor finds
it by our reference. A capture, a void, and a full refund sent as a void make no
transaction id of their own: they change their parent's, and Authorize.Net's
lists cannot find them by their own reference, so their parent's record
(`get_transaction` of the parent's id) tells whether they landed. A refund is
asked both ways: whether it went as a refund or as a void was decided by its
parent's settlement, which may have been learnt since.
"""

from __future__ import annotations

from gateway.payments.models import Transaction
from gateway.payments.reconciliation.dispatch import Sighting
from gateway.payments.repository import TransactionRepository
from gateway.payments.states import TransactionType, is_parent
from gateway.processors.resilient import ResilientProcessor


async def look_up(
    transaction: Transaction, processor: ResilientProcessor, repository: TransactionRepository
) -> Sighting:
    """What `processor` shows of `transaction`: read-only calls, never a resend.
    Raises what the processor's look-ups raise when it cannot be asked."""
    kind = TransactionType(transaction.type)
    if is_parent(kind) or kind is TransactionType.REFUND:
        found = await processor.find_by_reference(transaction.id)
        if found is not None or is_parent(kind):
            return Sighting(found)
    parent_id = await repository.parent_processor_id(transaction)
    if parent_id is None:  # a child is opened only on a parent the processor knows
        return Sighting(None)
    return Sighting(await processor.get_transaction(parent_id), through_parent=True)
