"""ANET.md §9, row by row (and the AVS/CVV tables of §3), at the port's level:
what the simulator returns or raises."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.core.clock import FrozenClock
from gateway.processors.port import (
    CaptureRequest,
    Card,
    NotSentError,
    Outcome,
    OutcomeUnknownError,
    RefundRequest,
    VoidRequest,
)
from gateway.processors.simulator import (
    Simulator,
    SimulatorConfig,
    UnknownPaymentMethod,
    parse_script,
)
from gateway.processors.simulator.models import SimulatorRequest, SimulatorTransaction
from tests.processors import REASON_CARD, VISA, charge, reference, tokenize_request
from tests.support import TEST_CARD_NUMBERS, closed_port

# A simulated timeout must return at once: well under any real read timeout.
AT_ONCE_S = 0.5


def dollars(n: int) -> int:
    return n * 100


async def _count(
    engine: AsyncEngine, model: type[SimulatorTransaction | SimulatorRequest], ref: str
) -> int:
    async with engine.connect() as connection:
        statement = select(func.count()).select_from(model).where(model.reference == ref)
        return int((await connection.execute(statement)).scalar_one())


# -- every test card approves unless a trigger applies --------------------------


@pytest.mark.parametrize("number", [n for n in TEST_CARD_NUMBERS if n != REASON_CARD])
async def test_every_test_card_approves(simulator: Simulator, number: str) -> None:
    result = await simulator.purchase(charge(1500, number=number, postal_code="98101"))
    assert (result.outcome, result.reason_code) == (Outcome.APPROVED, None)
    assert result.avs_result == "Y"


async def test_unusable_card_data_is_declined_without_a_transaction(simulator: Simulator) -> None:
    bad_number = await simulator.purchase(charge(1500, number="4111111111111112"))
    request = charge(1500)
    bad_month = await simulator.purchase(
        replace(request, card=Card(VISA, exp_month=13, exp_year=2030))
    )
    assert (bad_number.outcome, bad_number.reason_code) == (Outcome.DECLINED, "6")
    assert (bad_month.outcome, bad_month.reason_code) == (Outcome.DECLINED, "7")
    assert bad_number.processor_transaction_id is None
    assert bad_month.processor_transaction_id is None


async def test_an_expired_card_is_declined_with_8(simulator: Simulator) -> None:
    request = charge(1500)
    expired = replace(request, card=Card(VISA, exp_month=12, exp_year=2025))
    result = await simulator.purchase(expired)
    assert (result.outcome, result.reason_code) == (Outcome.DECLINED, "8")


async def test_an_unsupported_currency_is_error_39(simulator: Simulator) -> None:
    result = await simulator.purchase(charge(1500, currency="XXX"))
    assert (result.outcome, result.reason_code) == (Outcome.ERROR, "39")


# -- billing_address.postal_code = 46282 -----------------------------------------


async def test_postal_code_46282_declines_with_reason_2(simulator: Simulator) -> None:
    result = await simulator.purchase(charge(1500, postal_code="46282"))
    assert (result.outcome, result.reason_code) == (Outcome.DECLINED, "2")
    assert result.processor_transaction_id is not None  # a decline has a transaction id
    found = await simulator.get_transaction(result.processor_transaction_id)
    assert found is not None
    assert found.status == "declined"


# -- AVS zips of §3 ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("postal_code", "avs_result"),
    [
        ("46201", "A"),
        ("46203", "E"),
        ("46204", "G"),
        ("46205", "N"),
        ("46206", "P"),
        ("46207", "R"),
        ("46208", "S"),
        ("46209", "U"),
        ("46211", "W"),
        ("46214", "X"),
        ("46217", "Z"),
    ],
)
async def test_avs_zips_give_their_avs_result_and_approve(
    simulator: Simulator, postal_code: str, avs_result: str
) -> None:
    result = await simulator.authorize(charge(1500, postal_code=postal_code))
    assert (result.outcome, result.avs_result) == (Outcome.APPROVED, avs_result)


async def test_avs_result_is_b_without_a_billing_address(simulator: Simulator) -> None:
    result = await simulator.purchase(charge(1500))
    assert (result.outcome, result.avs_result) == (Outcome.APPROVED, "B")


# -- partial-auth zips 46225-46228 ------------------------------------------------


@pytest.mark.parametrize("postal_code", ["46225", "46226", "46227", "46228"])
async def test_partial_auth_zips_approve_in_full(simulator: Simulator, postal_code: str) -> None:
    result = await simulator.authorize(charge(4321, postal_code=postal_code))
    assert result.outcome is Outcome.APPROVED
    assert result.processor_transaction_id is not None
    found = await simulator.get_transaction(result.processor_transaction_id)
    assert found is not None
    assert found.amount == 4321


# -- CVV 900-904 ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cvv", "cvv_result"), [("900", "M"), ("901", "N"), ("902", "S"), ("903", "U"), ("904", "P")]
)
@pytest.mark.parametrize("simulator_config", [SimulatorConfig(cvv_filter=False)])
async def test_cvv_900_to_904_give_their_cvv_result(
    simulator: Simulator, cvv: str, cvv_result: str
) -> None:
    result = await simulator.purchase(charge(1500, cvv=cvv))
    assert (result.outcome, result.cvv_result) == (Outcome.APPROVED, cvv_result)


async def test_cvv_901_declines_with_reason_65_when_the_cvv_filter_is_on(
    simulator: Simulator,
) -> None:
    assert simulator.config.cvv_filter  # the default
    result = await simulator.purchase(charge(1500, cvv="901"))
    assert (result.outcome, result.reason_code, result.cvv_result) == (Outcome.DECLINED, "65", "N")
    for cvv in ("900", "902", "903", "904", "123"):
        assert (await simulator.purchase(charge(1500, cvv=cvv))).outcome is Outcome.APPROVED


async def test_cvv_901_declines_on_a_token_charge_too(simulator: Simulator) -> None:
    stored = await simulator.tokenize(tokenize_request())
    result = await simulator.purchase(charge(1500, token=stored.token, cvv="901"))
    assert (result.outcome, result.reason_code) == (Outcome.DECLINED, "65")


# -- card 4222222222222, amount N.00 ----------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 4, 6, 7, 8, 27, 44, 45, 65])
async def test_card_4222222222222_amount_n_declines_with_reason_n(
    simulator: Simulator, n: int
) -> None:
    result = await simulator.purchase(charge(dollars(n), number=REASON_CARD))
    assert (result.outcome, result.reason_code) == (Outcome.DECLINED, str(n))
    assert result.processor_transaction_id is not None


async def test_card_4222222222222_filter_declines_report_the_failed_check(
    simulator: Simulator,
) -> None:
    avs = await simulator.purchase(charge(dollars(27), number=REASON_CARD, postal_code="98101"))
    cvv = await simulator.purchase(charge(dollars(65), number=REASON_CARD, cvv="123"))
    assert avs.avs_result == "N"
    assert cvv.cvv_result == "N"


@pytest.mark.parametrize("n", [19, 20, 21, 22, 23, 57, 58, 59, 60, 61, 62, 63])
async def test_card_4222222222222_amount_n_is_a_processor_error(
    simulator: Simulator, committed_engine: AsyncEngine, n: int
) -> None:
    request = charge(dollars(n), number=REASON_CARD)
    result = await simulator.purchase(request)
    assert (result.outcome, result.reason_code) == (Outcome.ERROR, str(n))
    assert result.processor_transaction_id is None
    assert "try again" in (result.reason_text or "")
    assert await _count(committed_engine, SimulatorTransaction, request.reference) == 0


@pytest.mark.parametrize(
    ("n", "status"), [(252, "FDSPendingReview"), (253, "FDSAuthorizedPendingReview")]
)
async def test_card_4222222222222_amount_252_253_is_held_for_review(
    simulator: Simulator, n: int, status: str
) -> None:
    result = await simulator.purchase(charge(dollars(n), number=REASON_CARD))
    assert (result.outcome, result.reason_code) == (Outcome.HELD, str(n))
    assert result.processor_transaction_id is not None
    found = await simulator.get_transaction(result.processor_transaction_id)
    assert found is not None
    assert found.status == status


@pytest.mark.parametrize(
    ("kind", "decision", "status"),
    [
        ("purchase", "approve", "capturedPendingSettlement"),
        ("authorization", "approve", "authorizedPendingCapture"),
        ("purchase", "decline", "declined"),
    ],
)
async def test_a_held_transaction_is_decided_by_review(
    simulator: Simulator, kind: str, decision: str, status: str
) -> None:
    request = charge(dollars(252), number=REASON_CARD)
    call = simulator.purchase if kind == "purchase" else simulator.authorize
    held = await call(request)
    assert held.outcome is Outcome.HELD

    decided = await simulator.review(
        request.reference, "approve" if decision == "approve" else "decline"
    )

    assert decided.status == status
    assert decided.processor_transaction_id == held.processor_transaction_id
    if decision == "approve":
        assert decided.auth_code is not None
    found = await simulator.find_by_reference(request.reference)
    assert found is not None
    assert found.status == status


@pytest.mark.parametrize("amount", [dollars(1), dollars(5), dollars(11), dollars(100), 250, 2750])
async def test_card_4222222222222_any_other_amount_approves(
    simulator: Simulator, amount: int
) -> None:
    result = await simulator.purchase(charge(amount, number=REASON_CARD))
    assert (result.outcome, result.reason_code) == (Outcome.APPROVED, None)


@pytest.mark.parametrize(("amount", "currency"), [(27, "JPY"), (2700, "USD"), (27_000, "KWD")])
async def test_card_4222222222222_reads_the_amount_in_major_units_by_exponent(
    simulator: Simulator, amount: int, currency: str
) -> None:
    result = await simulator.purchase(charge(amount, number=REASON_CARD, currency=currency))
    assert (result.outcome, result.reason_code) == (Outcome.DECLINED, "27")


@pytest.mark.parametrize(
    ("kind", "status"),
    [("purchase", "capturedPendingSettlement"), ("authorization", "authorizedPendingCapture")],
)
async def test_card_4222222222222_amount_901_records_the_charge_then_times_out(
    simulator: Simulator, committed_engine: AsyncEngine, kind: str, status: str
) -> None:
    request = charge(dollars(901), number=REASON_CARD)
    call = simulator.purchase if kind == "purchase" else simulator.authorize
    started = time.monotonic()
    with pytest.raises(OutcomeUnknownError):
        await call(request)
    assert time.monotonic() - started < AT_ONCE_S

    found = await simulator.find_by_reference(request.reference)
    assert found is not None
    assert (found.kind, found.status, found.amount) == (kind, status, dollars(901))
    assert await _count(committed_engine, SimulatorTransaction, request.reference) == 1


async def test_card_4222222222222_amount_902_times_out_with_nothing_recorded(
    simulator: Simulator, committed_engine: AsyncEngine
) -> None:
    request = charge(dollars(902), number=REASON_CARD)
    started = time.monotonic()
    with pytest.raises(OutcomeUnknownError):
        await simulator.purchase(request)
    assert time.monotonic() - started < AT_ONCE_S

    assert await simulator.find_by_reference(request.reference) is None
    assert await _count(committed_engine, SimulatorTransaction, request.reference) == 0
    assert await _count(committed_engine, SimulatorRequest, request.reference) == 0


async def test_card_4222222222222_amount_903_is_not_sent_at_once(
    simulator: Simulator, committed_engine: AsyncEngine
) -> None:
    request = charge(dollars(903), number=REASON_CARD)
    started = time.monotonic()
    with pytest.raises(NotSentError):
        await simulator.authorize(request)
    assert time.monotonic() - started < AT_ONCE_S

    assert await _count(committed_engine, SimulatorTransaction, request.reference) == 0
    assert await _count(committed_engine, SimulatorRequest, request.reference) == 0


# -- gateway simulator outage on|off ----------------------------------------------


async def test_outage_refuses_every_call_until_turned_off(simulator: Simulator) -> None:
    purchased = await simulator.purchase(charge(1500))
    transaction_id = purchased.processor_transaction_id
    assert transaction_id is not None
    stored = await simulator.tokenize(tokenize_request())

    await simulator.outage.turn(on=True)
    calls = [
        simulator.purchase(charge(1500)),
        simulator.authorize(charge(1500)),
        simulator.capture(CaptureRequest(reference(), transaction_id, None, "USD")),
        simulator.void(VoidRequest(reference(), transaction_id)),
        simulator.refund(RefundRequest(reference(), transaction_id, 100, "USD", "1111")),
        simulator.get_transaction(transaction_id),
        simulator.find_by_reference(reference()),
        simulator.tokenize(tokenize_request()),
        simulator.delete_payment_method(stored.token),
    ]
    for call in calls:
        with pytest.raises(NotSentError):
            await call

    await simulator.outage.turn(on=False)
    assert (await simulator.purchase(charge(1500))).outcome is Outcome.APPROVED


async def test_an_unreadable_outage_flag_counts_as_off(
    committed_engine: AsyncEngine, clock: FrozenClock
) -> None:
    unreachable = Redis.from_url(
        f"redis://127.0.0.1:{closed_port()}", socket_connect_timeout=0.2, socket_timeout=0.2
    )
    try:
        simulator = Simulator(committed_engine, unreachable, clock)
        assert not await simulator.outage.is_on()
        assert (await simulator.purchase(charge(1500))).outcome is Outcome.APPROVED
    finally:
        await unreachable.aclose()


# -- gateway simulator script TOKEN ... (test mode) -------------------------------


async def test_a_script_decides_the_next_charges_of_its_token_in_order(
    simulator: Simulator, committed_engine: AsyncEngine
) -> None:
    stored = await simulator.tokenize(tokenize_request())
    other = await simulator.tokenize(tokenize_request())
    await simulator.set_script(stored.token, parse_script("approve,decline,decline:27,timeout"))

    approved = await simulator.purchase(charge(1500, token=stored.token, postal_code="46282"))
    declined = await simulator.purchase(charge(1500, token=stored.token))
    unaffected = await simulator.purchase(charge(1500, token=other.token))
    declined_27 = await simulator.authorize(charge(1500, token=stored.token))
    lost = charge(1500, token=stored.token)
    with pytest.raises(OutcomeUnknownError):
        await simulator.purchase(lost)
    after = await simulator.purchase(charge(1500, token=stored.token, postal_code="46282"))

    assert approved.outcome is Outcome.APPROVED  # the script wins over the zip trigger
    assert (declined.outcome, declined.reason_code) == (Outcome.DECLINED, "2")
    assert unaffected.outcome is Outcome.APPROVED  # another token's charges are its own
    assert (declined_27.outcome, declined_27.reason_code) == (Outcome.DECLINED, "27")
    assert await _count(committed_engine, SimulatorTransaction, lost.reference) == 1
    assert (after.outcome, after.reason_code) == (Outcome.DECLINED, "2")  # normal rules again


async def test_a_new_script_replaces_what_is_left_of_the_last(simulator: Simulator) -> None:
    stored = await simulator.tokenize(tokenize_request())
    await simulator.set_script(stored.token, parse_script("decline,decline"))
    await simulator.purchase(charge(1500, token=stored.token))
    await simulator.set_script(stored.token, parse_script("decline:51"))

    first = await simulator.purchase(charge(1500, token=stored.token))
    second = await simulator.purchase(charge(1500, token=stored.token))

    assert (first.outcome, first.reason_code) == (Outcome.DECLINED, "51")
    assert second.outcome is Outcome.APPROVED


async def test_a_script_for_an_unknown_or_deleted_token_is_refused(simulator: Simulator) -> None:
    stored = await simulator.tokenize(tokenize_request())
    await simulator.delete_payment_method(stored.token)
    for token in (stored.token, "1:2", "junk"):
        with pytest.raises(UnknownPaymentMethod):
            await simulator.set_script(token, parse_script("decline"))


async def test_a_blind_resend_does_not_use_up_a_script_step(simulator: Simulator) -> None:
    stored = await simulator.tokenize(tokenize_request())
    await simulator.set_script(stored.token, parse_script("decline,decline:51"))
    request = charge(1500, token=stored.token)

    first = await simulator.purchase(request)
    resent = await simulator.purchase(request)
    next_charge = await simulator.purchase(charge(1500, token=stored.token))

    assert (first.outcome, first.reason_code) == (Outcome.DECLINED, "2")
    assert (resent.outcome, resent.reason_code) == (Outcome.ERROR, "11")
    assert (next_charge.outcome, next_charge.reason_code) == (Outcome.DECLINED, "51")


@pytest.mark.parametrize(
    "text", ["", "approve,", "maybe", "decline:0", "approve:2", "decline:1000", "timeout:5"]
)
def test_a_malformed_script_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="approve"):
        parse_script(text)


def test_a_script_reads_case_and_spaces_leniently() -> None:
    steps = parse_script(" Approve , DECLINE:05,timeout")
    assert [str(step) for step in steps] == ["approve", "decline:5", "timeout"]


# -- the same triggers apply to a token -------------------------------------------


@pytest.mark.parametrize(
    ("amount", "outcome", "reason_code"),
    [
        (dollars(2), Outcome.DECLINED, "2"),
        (dollars(252), Outcome.HELD, "252"),
        (dollars(3), Outcome.DECLINED, "3"),
    ],
)
async def test_a_token_inherits_the_trigger_class_of_its_card(
    simulator: Simulator, amount: int, outcome: Outcome, reason_code: str
) -> None:
    stored = await simulator.tokenize(tokenize_request(REASON_CARD))
    result = await simulator.purchase(charge(amount, token=stored.token))
    assert (result.outcome, result.reason_code) == (outcome, reason_code)


async def test_a_token_made_from_another_card_ignores_the_amount_trigger(
    simulator: Simulator,
) -> None:
    stored = await simulator.tokenize(tokenize_request())
    result = await simulator.purchase(charge(dollars(2), token=stored.token))
    assert result.outcome is Outcome.APPROVED


async def test_a_token_whose_card_has_since_expired_declines_with_8(
    simulator: Simulator, clock: FrozenClock
) -> None:
    stored = await simulator.tokenize(tokenize_request())
    clock.set(datetime(2031, 1, 1, tzinfo=UTC))
    result = await simulator.purchase(charge(1500, token=stored.token))
    assert (result.outcome, result.reason_code) == (Outcome.DECLINED, "8")


# -- load-test knobs ----------------------------------------------------------------


@pytest.mark.parametrize("simulator_config", [SimulatorConfig(decline_rate=1.0)])
async def test_decline_rate_declines_what_would_be_approved(simulator: Simulator) -> None:
    result = await simulator.purchase(charge(1500))
    held = await simulator.purchase(charge(dollars(252), number=REASON_CARD))
    assert (result.outcome, result.reason_code) == (Outcome.DECLINED, "2")
    assert held.outcome is Outcome.HELD  # a trigger still decides first


@pytest.mark.parametrize("simulator_config", [SimulatorConfig(latency_ms=40)])
async def test_latency_adds_a_real_delay(simulator: Simulator) -> None:
    started = time.monotonic()
    await simulator.purchase(charge(1500))
    assert time.monotonic() - started >= 0.02  # 40 ms jittered by at most half
