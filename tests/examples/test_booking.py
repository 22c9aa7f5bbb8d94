"""The booking example end to end (issue 22 points 1 and 4): `booking serve`
against a served gateway and a real worker, through every branch: success,
decline, timeout then reconciliation, a lapsed hold, concurrent buyers for the
last seat, and a SIGKILL mid-flow. After each, the invariants: never more seats
sold than exist, never a captured payment without a booking, never a booking
without a captured payment."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.examples.booking_process import BookingRunner, BookingService, booking_runner
from tests.examples.served import ServedGateway, eventually, example_database, query
from tests.support import closed_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def booking_db(admin_url: str) -> Iterator[str]:
    with example_database(admin_url, "booking_test") as url:
        yield url


@pytest.fixture(scope="module")
def runner(gateway: ServedGateway, booking_db: str) -> Iterator[BookingRunner]:
    with booking_runner(gateway, booking_db, closed_port()) as started:
        yield started


@pytest.fixture
def booking(runner: BookingRunner) -> BookingService:
    return runner.running


def hold_row(database_url: str, hold_id: str) -> dict[str, Any]:
    [row] = query(database_url, "SELECT * FROM seat_holds WHERE id = $1", hold_id)
    return row


def assert_invariants(gateway: ServedGateway, database_url: str) -> None:
    for event in query(database_url, "SELECT * FROM events"):
        assert event["seats_held"] + event["seats_sold"] <= event["seats_total"], event
        [sold] = query(
            database_url,
            "SELECT coalesce(sum(seats), 0) AS n FROM bookings WHERE event_id = $1",
            event["id"],
        )
        [held] = query(
            database_url,
            "SELECT coalesce(sum(seats), 0) AS n FROM seat_holds WHERE event_id = $1"
            " AND status IN ('held', 'authorizing', 'pending', 'capturing')",
            event["id"],
        )
        assert (event["seats_sold"], event["seats_held"]) == (sold["n"], held["n"]), event
    bookings = {row["hold_id"]: row for row in query(database_url, "SELECT * FROM bookings")}
    for hold in query(database_url, "SELECT * FROM seat_holds"):
        payments = gateway.payments_for(hold["id"])
        authorizations = [p for p in payments if p["type"] == "authorization"]
        assert len(authorizations) <= 1, "one authorization per booking, whatever was repeated"
        captured = [a for a in authorizations if a["status"] == "captured"]
        booking = bookings.get(hold["id"])
        if captured:
            assert booking is not None, f"captured without a booking: {hold}"
            assert booking["amount"] == captured[0]["amount_captured"]
        if booking is not None:
            assert hold["status"] == "confirmed"
            assert captured, f"a booking without a captured payment: {hold}"
            [capture] = [p for p in payments if p["type"] == "capture"]
            assert capture["id"] == booking["capture_id"]
        if hold["status"] in ("released", "expired"):
            assert all(a["status"] != "authorized" for a in authorizations), hold


def test_success_captures_and_confirms_the_booking(
    gateway: ServedGateway, booking: BookingService, booking_db: str
) -> None:
    event = booking.event(seats=5)
    answer = booking.post("/bookings", {"event_id": event, "seats": 2, "force": "success"})
    assert answer.status_code == 201, answer.text
    hold = answer.json()
    assert hold["status"] == "confirmed"
    assert hold["booking_id"]
    assert hold["amount"] == 9000
    assert gateway.get(f"/payments/{hold['authorization_id']}")["status"] == "captured"
    assert booking.get(f"/events/{event}")["seats_sold"] == 2
    assert_invariants(gateway, booking_db)


def test_a_decline_releases_the_seats(
    gateway: ServedGateway, booking: BookingService, booking_db: str
) -> None:
    event = booking.event(seats=1)
    answer = booking.post("/bookings", {"event_id": event, "force": "failure"})
    assert answer.status_code == 402, answer.text
    assert answer.json()["booking"]["status"] == "released"
    assert "decline 2" in answer.json()["detail"]
    shown = booking.get(f"/events/{event}")
    assert (shown["seats_held"], shown["seats_sold"], shown["seats_available"]) == (0, 0, 1)
    assert_invariants(gateway, booking_db)


def test_a_timeout_keeps_the_hold_until_the_gateway_reconciles_then_confirms(
    gateway: ServedGateway, booking: BookingService, booking_db: str
) -> None:
    event = booking.event(seats=3)
    answer = booking.post("/bookings", {"event_id": event, "force": "timeout"})
    assert answer.status_code == 202, answer.text
    hold = answer.json()
    assert (hold["status"], hold["amount"]) == ("pending", 90100), "force overrides the price"
    assert booking.get(f"/events/{event}")["seats_held"] == 1
    gateway.reconcile(hold["authorization_id"])
    confirmed = eventually(
        lambda: (shown := booking.get(f"/bookings/{hold['id']}"))["status"] == "confirmed" and shown
    )
    assert confirmed["booking_id"]
    assert gateway.get(f"/payments/{hold['authorization_id']}")["status"] == "captured"
    types = eventually(
        lambda: (
            {
                row["type"]
                for row in query(
                    booking_db,
                    "SELECT type FROM notifications WHERE object_id = $1",
                    hold["authorization_id"],
                )
            }
            >= {"payment.authorized", "payment.captured"}
        )
    )
    assert types, "the gateway's signed webhooks arrived and verified"
    assert_invariants(gateway, booking_db)


def test_a_lapsed_hold_frees_its_seats_and_voids_its_authorization(
    gateway: ServedGateway, booking: BookingService, booking_db: str
) -> None:
    event = booking.event(seats=1)
    answer = booking.post("/bookings", {"event_id": event, "force": "timeout"})
    assert answer.status_code == 202, answer.text
    hold = answer.json()
    query(
        booking_db,
        "UPDATE seat_holds SET expires_at = now() - interval '1 second' WHERE id = $1",
        hold["id"],
    )
    # The expiry job gives the seats back while the gateway is still deciding ...
    eventually(lambda: hold_row(booking_db, hold["id"])["status"] == "voiding")
    assert booking.get(f"/events/{event}")["seats_available"] == 1
    # ... and voids the authorization once reconciliation has approved it.
    gateway.reconcile(hold["authorization_id"])
    eventually(lambda: hold_row(booking_db, hold["id"])["status"] == "expired")
    assert gateway.get(f"/payments/{hold['authorization_id']}")["status"] == "voided"
    assert_invariants(gateway, booking_db)


def test_concurrent_buyers_of_the_last_seat_sell_it_once(
    gateway: ServedGateway, booking: BookingService, booking_db: str
) -> None:
    event = booking.event(seats=1)
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(
            pool.map(
                lambda _: booking.post("/bookings", {"event_id": event, "force": "success"}),
                range(6),
            )
        )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201, 409, 409, 409, 409, 409], [a.text for a in answers]
    shown = booking.get(f"/events/{event}")
    assert (shown["seats_sold"], shown["seats_available"]) == (1, 0)
    assert_invariants(gateway, booking_db)


@pytest.mark.parametrize("fault", ["after_authorize", "after_capture"])
def test_a_sigkilled_service_finishes_the_booking_when_it_restarts(
    gateway: ServedGateway, runner: BookingRunner, booking_db: str, fault: str
) -> None:
    event = runner.running.event(seats=1)
    doomed = runner.restart(BOOKING_FAULT_INJECTION=fault)
    with pytest.raises(httpx.TransportError):
        doomed.post("/bookings", {"event_id": event, "force": "success"})
    assert doomed.process.wait(timeout=10) == -signal.SIGKILL
    [hold] = query(booking_db, "SELECT * FROM seat_holds WHERE event_id = $1", event)
    assert hold["status"] in ("authorizing", "capturing"), "killed mid-flow"
    # Restarted, it recovers the hold at once, repeating the step that was cut
    # short with the same Idempotency-Key: the gateway answers it from its store.
    service = runner.restart()
    eventually(lambda: hold_row(booking_db, hold["id"])["status"] == "confirmed")
    assert service.get(f"/events/{event}")["seats_sold"] == 1
    assert_invariants(gateway, booking_db)
