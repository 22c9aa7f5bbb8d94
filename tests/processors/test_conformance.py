"""The processor port's contract, run against every implementation.

Each implementation joins by adding its fixture's name to the `processor`
fixture's params and a `Harness` for it (tests/processors/harnesses.py). The
Authorize.Net connector runs against `gateway sandbox serve` over HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest

from gateway.core.errors import ValidationFailed
from gateway.processors.authorize_net.connector import AuthorizeNetConnector
from gateway.processors.port import (
    CaptureRequest,
    NotSentError,
    Outcome,
    OutcomeUnknownError,
    PortRequest,
    Processor,
    ProcessorResult,
    RefundRequest,
    RequestRejectedError,
    SettlementReports,
    VoidRequest,
)
from gateway.processors.simulator import Simulator
from tests.fixtures.sandbox import RunningSandbox
from tests.processors import VISA, charge, reference, tokenize_request
from tests.processors.harnesses import Harness, sandbox_harness, simulator_harness
from tests.support import closed_port


@pytest.fixture(params=["simulator", "authorize_net"])
def processor(request: pytest.FixtureRequest) -> Processor:
    implementation: Processor = request.getfixturevalue(request.param)
    return implementation


@pytest.fixture
async def harness(processor: Processor, request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if isinstance(processor, Simulator):
        yield simulator_harness(processor)
    elif isinstance(processor, AuthorizeNetConnector):
        sandbox: RunningSandbox = request.getfixturevalue("sandbox")
        unreachable = sandbox.connector(url=f"http://127.0.0.1:{closed_port()}/xml/v1/request.api")
        yield sandbox_harness(sandbox, unreachable)
        await unreachable.aclose()
    else:
        raise NotImplementedError(processor.name)


async def _captured(processor: Processor, amount: int = 1500) -> ProcessorResult:
    result = await processor.purchase(charge(amount))
    assert result.outcome is Outcome.APPROVED
    assert result.processor_transaction_id is not None
    return result


def _capture(transaction_id: str, amount: int | None = None) -> CaptureRequest:
    return CaptureRequest(
        reference=reference(),
        processor_transaction_id=transaction_id,
        amount=amount,
        currency="USD",
    )


def _refund(transaction_id: str, amount: int, last4: str = VISA[-4:]) -> RefundRequest:
    return RefundRequest(
        reference=reference(),
        processor_transaction_id=transaction_id,
        amount=amount,
        currency="USD",
        card_last4=last4,
    )


def _void(transaction_id: str) -> VoidRequest:
    return VoidRequest(reference=reference(), processor_transaction_id=transaction_id)


async def test_implements_the_port(processor: Processor) -> None:
    assert isinstance(processor, Processor)
    assert processor.name


async def test_purchase_is_captured_pending_settlement(processor: Processor) -> None:
    request = charge(2500)
    result = await processor.purchase(request)

    assert result.outcome is Outcome.APPROVED
    assert result.processor_transaction_id is not None
    assert result.processor_transaction_id.isdigit()
    assert result.auth_code is not None
    assert len(result.auth_code) == 6
    assert not result.already_done
    found = await processor.get_transaction(result.processor_transaction_id)
    assert found is not None
    assert found.kind == "purchase"
    assert found.status == "capturedPendingSettlement"
    assert found.reference == request.reference
    assert (found.amount, found.settled_amount, found.currency) == (2500, 2500, "USD")
    assert found.settled_at is None
    assert await processor.find_by_reference(request.reference) == found


async def test_authorize_then_partial_capture_keeps_the_transaction_id(
    processor: Processor,
) -> None:
    authorized = await processor.authorize(charge(2000))
    assert authorized.outcome is Outcome.APPROVED
    assert authorized.processor_transaction_id is not None
    held = await processor.get_transaction(authorized.processor_transaction_id)
    assert held is not None
    assert (held.kind, held.status, held.settled_amount) == (
        "authorization",
        "authorizedPendingCapture",
        0,
    )

    captured = await processor.capture(_capture(authorized.processor_transaction_id, 1200))

    assert captured.outcome is Outcome.APPROVED
    assert captured.processor_transaction_id == authorized.processor_transaction_id
    after = await processor.get_transaction(authorized.processor_transaction_id)
    assert after is not None
    assert (after.status, after.amount, after.settled_amount) == (
        "capturedPendingSettlement",
        2000,
        1200,
    )


async def test_capture_without_an_amount_takes_everything_authorized(processor: Processor) -> None:
    authorized = await processor.authorize(charge(2000))
    assert authorized.processor_transaction_id is not None
    await processor.capture(_capture(authorized.processor_transaction_id))
    after = await processor.get_transaction(authorized.processor_transaction_id)
    assert after is not None
    assert after.settled_amount == 2000


async def test_a_second_capture_is_already_done_and_moves_no_money(processor: Processor) -> None:
    authorized = await processor.authorize(charge(2000))
    assert authorized.processor_transaction_id is not None
    await processor.capture(_capture(authorized.processor_transaction_id, 500))

    again = await processor.capture(_capture(authorized.processor_transaction_id, 2000))

    assert again.outcome is Outcome.APPROVED
    assert again.already_done
    assert again.reason_code == "311"
    after = await processor.get_transaction(authorized.processor_transaction_id)
    assert after is not None
    assert after.settled_amount == 500


async def test_a_capture_above_the_authorized_amount_is_error_47(processor: Processor) -> None:
    authorized = await processor.authorize(charge(2000))
    assert authorized.processor_transaction_id is not None
    result = await processor.capture(_capture(authorized.processor_transaction_id, 2001))
    assert (result.outcome, result.reason_code) == (Outcome.ERROR, "47")
    after = await processor.get_transaction(authorized.processor_transaction_id)
    assert after is not None
    assert after.status == "authorizedPendingCapture"


@pytest.mark.parametrize("unknown", ["1", "999999999999"])
async def test_calls_on_an_unknown_transaction_are_error_16(
    processor: Processor, unknown: str
) -> None:
    for result in (
        await processor.capture(_capture(unknown)),
        await processor.void(_void(unknown)),
        await processor.refund(_refund(unknown, 100)),
    ):
        assert (result.outcome, result.reason_code) == (Outcome.ERROR, "16")
        assert result.processor_transaction_id is None


@pytest.mark.parametrize("malformed", ["not-a-number", ""])
async def test_an_id_no_processor_makes_is_refused_by_check_or_not_found(
    processor: Processor, malformed: str
) -> None:
    # The gateway checks every request before sending it (Processor.check): a
    # processor may refuse such an id there (400) rather than answer 16.
    calls: list[tuple[PortRequest, Callable[[], Awaitable[ProcessorResult]]]] = [
        (capture := _capture(malformed), lambda: processor.capture(capture)),
        (void := _void(malformed), lambda: processor.void(void)),
        (refund := _refund(malformed, 100), lambda: processor.refund(refund)),
    ]
    for request, call in calls:
        try:
            processor.check(request)
        except ValidationFailed:
            continue
        result = await call()
        assert (result.outcome, result.reason_code) == (Outcome.ERROR, "16")
        assert result.processor_transaction_id is None


async def test_void_keeps_the_id_and_a_second_void_is_already_done(processor: Processor) -> None:
    purchased = await _captured(processor)
    assert purchased.processor_transaction_id is not None

    voided = await processor.void(_void(purchased.processor_transaction_id))
    again = await processor.void(_void(purchased.processor_transaction_id))

    assert voided.outcome is Outcome.APPROVED
    assert voided.processor_transaction_id == purchased.processor_transaction_id
    assert not voided.already_done
    assert (again.outcome, again.already_done, again.reason_code) == (Outcome.APPROVED, True, "310")
    after = await processor.get_transaction(purchased.processor_transaction_id)
    assert after is not None
    assert after.status == "voided"


async def test_an_authorization_can_be_voided(processor: Processor) -> None:
    authorized = await processor.authorize(charge(2000))
    assert authorized.processor_transaction_id is not None
    result = await processor.void(_void(authorized.processor_transaction_id))
    assert result.outcome is Outcome.APPROVED
    captured = await processor.capture(_capture(authorized.processor_transaction_id))
    assert captured.outcome is Outcome.ERROR


async def test_only_unsettled_transactions_can_be_voided(
    processor: Processor, harness: Harness
) -> None:
    purchased = await _captured(processor)
    assert purchased.processor_transaction_id is not None
    await harness.settle_everything()

    result = await processor.void(_void(purchased.processor_transaction_id))

    assert result.outcome is Outcome.ERROR
    after = await processor.get_transaction(purchased.processor_transaction_id)
    assert after is not None
    assert after.status == "settledSuccessfully"


async def test_refund_before_settlement_is_refused_with_54(processor: Processor) -> None:
    purchased = await _captured(processor)
    assert purchased.processor_transaction_id is not None
    result = await processor.refund(_refund(purchased.processor_transaction_id, 500))
    assert (result.outcome, result.reason_code) == (Outcome.ERROR, "54")


async def test_refunds_of_a_settled_charge_get_new_ids_up_to_the_original(
    processor: Processor, harness: Harness
) -> None:
    purchased = await _captured(processor, 1500)
    charge_id = purchased.processor_transaction_id
    assert charge_id is not None
    await harness.settle_everything()
    settled = await processor.get_transaction(charge_id)
    assert settled is not None
    assert settled.status == "settledSuccessfully"
    assert settled.settled_at is not None

    first_request = _refund(charge_id, 1000)
    first = await processor.refund(first_request)
    second = await processor.refund(_refund(charge_id, 500))
    too_much = await processor.refund(_refund(charge_id, 1))

    assert first.outcome is Outcome.APPROVED
    assert first.processor_transaction_id not in (None, charge_id)
    assert second.outcome is Outcome.APPROVED
    assert (too_much.outcome, too_much.reason_code) == (Outcome.ERROR, "55")
    assert first.processor_transaction_id is not None
    refund = await processor.get_transaction(first.processor_transaction_id)
    assert refund is not None
    assert (refund.kind, refund.status, refund.amount) == (
        "refund",
        "refundPendingSettlement",
        1000,
    )
    assert refund.parent_processor_transaction_id == charge_id
    assert await processor.find_by_reference(first_request.reference) == refund


async def test_settled_batches_report_what_settled_and_when(
    processor: Processor, harness: Harness
) -> None:
    assert isinstance(processor, SettlementReports)
    purchased = await _captured(processor)
    authorized = await processor.authorize(charge(2000))
    await harness.settle_everything()
    assert purchased.processor_transaction_id is not None
    record = await processor.get_transaction(purchased.processor_transaction_id)
    assert record is not None
    assert record.settled_at is not None

    reported = await processor.settled_transactions(
        record.settled_at - timedelta(days=1), record.settled_at + timedelta(minutes=1)
    )

    by_id = {row.processor_transaction_id: row for row in reported}
    ours = by_id[purchased.processor_transaction_id]
    assert ours.settled_at == record.settled_at
    assert ours.batch_id
    assert authorized.processor_transaction_id not in by_id  # nothing of it was captured
    before = await processor.settled_transactions(
        record.settled_at - timedelta(days=2), record.settled_at - timedelta(days=1)
    )
    assert purchased.processor_transaction_id not in {
        row.processor_transaction_id for row in before
    }


async def test_a_refund_needs_the_last_4_of_the_original_card(
    processor: Processor, harness: Harness
) -> None:
    purchased = await _captured(processor)
    assert purchased.processor_transaction_id is not None
    await harness.settle_everything()
    result = await processor.refund(_refund(purchased.processor_transaction_id, 100, last4="0000"))
    assert (result.outcome, result.reason_code) == (Outcome.ERROR, "54")


async def test_lookups_of_unknown_ids_and_references_return_none(processor: Processor) -> None:
    for unknown in ("1", "0", "abc", "12345678901234567890123"):
        assert await processor.get_transaction(unknown) is None
    assert await processor.find_by_reference(reference()) is None


async def test_captures_and_voids_are_found_through_their_parent(processor: Processor) -> None:
    # Authorize.Net gives a priorAuthCapture and a void no transId of their own
    # and lists nothing by their refId: their parent's record is all there is.
    request = charge(2000)
    authorized = await processor.authorize(request)
    parent_id = authorized.processor_transaction_id
    assert parent_id is not None
    capture = _capture(parent_id, 1500)
    await processor.capture(capture)

    assert await processor.find_by_reference(capture.reference) is None
    captured = await processor.get_transaction(parent_id)
    assert captured is not None
    assert (captured.status, captured.settled_amount) == ("capturedPendingSettlement", 1500)

    void = _void(parent_id)
    await processor.void(void)

    assert await processor.find_by_reference(void.reference) is None
    voided = await processor.get_transaction(parent_id)
    assert voided is not None
    assert voided.status == "voided"
    by_charge = await processor.find_by_reference(request.reference)
    assert by_charge is not None
    assert (by_charge.processor_transaction_id, by_charge.status) == (parent_id, "voided")


async def test_a_refused_refund_is_not_found_by_its_reference(
    processor: Processor, harness: Harness
) -> None:
    purchased = await _captured(processor, 1500)
    assert purchased.processor_transaction_id is not None
    await harness.settle_everything()
    refund = _refund(purchased.processor_transaction_id, 1501)
    assert (await processor.refund(refund)).outcome is Outcome.ERROR
    assert await processor.find_by_reference(refund.reference) is None


async def test_tokenize_charge_the_token_and_delete_it(processor: Processor) -> None:
    request = tokenize_request(VISA)
    stored = await processor.tokenize(request)

    assert (stored.brand, stored.last4) == ("visa", "1111")
    assert (stored.exp_month, stored.exp_year) == (request.card.exp_month, request.card.exp_year)
    assert VISA not in stored.token
    charged = await processor.purchase(charge(700, token=stored.token))
    assert charged.outcome is Outcome.APPROVED

    await processor.delete_payment_method(stored.token)
    await processor.delete_payment_method(stored.token)  # a retried delete succeeds

    refused = await processor.purchase(charge(700, token=stored.token))
    assert refused.outcome is Outcome.ERROR
    assert refused.processor_transaction_id is None


async def test_deleting_an_unknown_token_is_rejected(processor: Processor) -> None:
    for unknown in ("1:2", "nonsense"):
        with pytest.raises(RequestRejectedError):
            await processor.delete_payment_method(unknown)


async def test_tokenize_rejects_an_invalid_card_number(processor: Processor) -> None:
    request = tokenize_request("4111111111111112")
    with pytest.raises(RequestRejectedError) as raised:
        await processor.tokenize(request)
    assert raised.value.reason_code == "6"


async def test_declines_and_errors_are_results_not_exceptions(processor: Processor) -> None:
    declined = await processor.purchase(charge(1500, postal_code="46282"))
    assert (declined.outcome, declined.reason_code) == (Outcome.DECLINED, "2")
    assert declined.reason_text
    error = await processor.refund(_refund("1", 100))
    assert error.outcome is Outcome.ERROR


async def test_a_call_refused_before_sending_raises_not_sent_and_leaves_nothing(
    processor: Processor, harness: Harness
) -> None:
    refusing, request = harness.refused_before_sending()
    with pytest.raises(NotSentError):
        await refusing.purchase(request)
    assert await processor.find_by_reference(request.reference) is None


async def test_a_call_lost_after_recording_raises_outcome_unknown_and_is_found_later(
    processor: Processor, harness: Harness
) -> None:
    request = harness.lost_after_recording()
    with pytest.raises(OutcomeUnknownError):
        await processor.purchase(request)
    found = await processor.find_by_reference(request.reference)
    assert found is not None
    assert found.status == "capturedPendingSettlement"


async def test_a_blind_resend_within_the_duplicate_window_is_refused_with_11(
    processor: Processor,
) -> None:
    request = charge(1500)
    first = await processor.purchase(request)
    resent = await processor.purchase(request)
    assert first.outcome is Outcome.APPROVED
    assert (resent.outcome, resent.reason_code) == (Outcome.ERROR, "11")
    assert resent.processor_transaction_id is None
    found = await processor.find_by_reference(request.reference)
    assert found is not None
    assert found.processor_transaction_id == first.processor_transaction_id
