"""Every call the sandbox answers, by its request's root element."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

from gateway.sandbox import answers, profiles, reporting, transactions
from gateway.sandbox.parts import Parts

Handler = Callable[[Parts, dict[str, Any], str | None], Awaitable[dict[str, Any]]]


async def authenticate_test(
    parts: Parts, body: dict[str, Any], ref_id: str | None
) -> dict[str, Any]:
    return answers.envelope(answers.OK, ok=True, ref_id=ref_id)


CALLS: Final[Mapping[str, Handler]] = MappingProxyType(
    {
        "authenticateTestRequest": authenticate_test,
        "createTransactionRequest": transactions.create_transaction,
        "getTransactionDetailsRequest": reporting.transaction_details,
        "getUnsettledTransactionListRequest": reporting.unsettled_list,
        "getSettledBatchListRequest": reporting.settled_batch_list,
        "getTransactionListRequest": reporting.transaction_list,
        "createCustomerProfileRequest": profiles.create_customer_profile,
        "deleteCustomerProfileRequest": profiles.delete_customer_profile,
    }
)
