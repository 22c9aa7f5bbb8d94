"""The saga example end to end (issue 22 points 2 and 4): `saga` as a real process
against the served gateway and worker. An order is reserved, charged and
shipped; a shipping failure compensates with a refund (a purchase) or a void
(an authorization) and puts the stock back; a process SIGKILLed right after a
gateway call is finished by `saga recover`, whose repeat of that call is
answered from the gateway's idempotency store: one charge, one refund."""

from __future__ import annotations

import json
import signal
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.examples.served import BIN, REPOSITORY, ServedGateway, example_database, query

pytestmark = pytest.mark.slow

SAGA = str(BIN / "saga")


@pytest.fixture(scope="module")
def saga_db(admin_url: str) -> Iterator[str]:
    with example_database(admin_url, "saga_test") as url:
        # The saga's own schema, as its command creates it, so tests can stock
        # products without spending a process on each.
        created = subprocess.run(  # noqa: S603 - the example's own command line
            [SAGA, "stock", "warm-up", "0", "--price", "1"],
            cwd=REPOSITORY,
            env={"PATH": "", "SAGA_DATABASE_URL": url, "SAGA_GATEWAY_API_KEY": "unused"},
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert created.returncode == 0, created.stderr
        yield url


@pytest.fixture
def saga(gateway: ServedGateway, saga_db: str) -> Saga:
    return Saga(gateway, saga_db)


class Saga:
    def __init__(self, gateway: ServedGateway, database_url: str) -> None:
        self.database_url = database_url
        self.environment = {
            "PATH": gateway.environment.get("PATH", ""),
            "SAGA_DATABASE_URL": database_url,
            "SAGA_GATEWAY_URL": gateway.url,
            "SAGA_GATEWAY_API_KEY": gateway.key,
        }

    def run(self, *arguments: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - the example's own command line
            [SAGA, *arguments],
            cwd=REPOSITORY,
            env={**self.environment, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def order(self, *arguments: str) -> dict[str, Any]:
        done = self.run("order", *arguments)
        assert done.returncode == 0, done.stderr
        placed: dict[str, Any] = json.loads(done.stdout)
        return placed

    def stock(self, sku: str) -> int:
        [row] = query(self.database_url, "SELECT stock FROM products WHERE sku = $1", sku)
        return int(row["stock"])


def new_sku(saga: Saga, stock: int = 3) -> str:
    sku = f"sku-{uuid.uuid4().hex[:8]}"
    query(
        saga.database_url,
        "INSERT INTO products (sku, stock, price, currency) VALUES ($1, $2, 1250, 'USD')",
        sku,
        stock,
    )
    return sku


def test_an_order_is_reserved_charged_and_shipped(gateway: ServedGateway, saga: Saga) -> None:
    sku = new_sku(saga)
    order = saga.order(sku, "2")
    assert order["status"] == "completed", order
    assert saga.stock(sku) == 1
    assert gateway.get(f"/payments/{order['payment_id']}")["status"] == "captured"
    assert query(saga.database_url, "SELECT * FROM shipments WHERE order_id = $1", order["id"])


@pytest.mark.parametrize(
    ("mode", "compensation"), [("purchase", "refunded"), ("authorize", "voided")]
)
def test_a_shipping_failure_returns_the_money_and_the_stock(
    gateway: ServedGateway, saga: Saga, mode: str, compensation: str
) -> None:
    sku = new_sku(saga)
    order = saga.order(sku, "1", "--mode", mode, "--fail-shipping")
    assert order["status"] == "compensated", order
    assert saga.stock(sku) == 3
    assert gateway.get(f"/payments/{order['payment_id']}")["status"] == compensation


@pytest.mark.parametrize(
    ("fault", "arguments", "final", "step"),
    [
        ("after_charge", (), "completed", "charged"),
        ("after_refund", ("--fail-shipping",), "compensated", "compensated"),
    ],
)
def test_a_crashed_saga_is_recovered_and_each_step_happens_once(
    gateway: ServedGateway,
    saga: Saga,
    fault: str,
    arguments: tuple[str, ...],
    final: str,
    step: str,
) -> None:
    sku = new_sku(saga)
    crashed = saga.run("order", sku, "1", *arguments, SAGA_FAULT_INJECTION=fault)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    [order] = query(saga.database_url, "SELECT * FROM orders WHERE sku = $1", sku)
    assert order["status"] not in ("completed", "compensated")

    recovered = saga.run("recover")
    assert recovered.returncode == 0, recovered.stderr
    [after] = query(saga.database_url, "SELECT status FROM orders WHERE id = $1", order["id"])
    assert after["status"] == final
    [logged] = query(
        saga.database_url,
        "SELECT detail FROM order_log WHERE order_id = $1 AND step = $2",
        order["id"],
        step,
    )
    assert "replayed" in logged["detail"], "the repeat was answered from the gateway's store"
    payments = gateway.payments_for(order["id"])
    assert [p["type"] for p in payments if p["type"] == "purchase"] == ["purchase"]
    assert len([p for p in payments if p["type"] in ("refund", "void")]) <= 1
    assert saga.stock(sku) == (2 if final == "completed" else 3)
