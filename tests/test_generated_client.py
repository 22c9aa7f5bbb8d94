"""A client generated from the served OpenAPI document by openapi-python-client
works as is (issue 19 point 8): a purchase, its refund, and a 402 decline."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from redis import Redis

from gateway.core.ids import is_id
from gateway.core.settings import Settings
from gateway.merchants.scopes import Scope
from tests.fixtures.merchants import KeyFactory
from tests.jobs.conftest import job_environment  # noqa: F401 - a fixture, for `served`
from tests.served_api import serving

pytestmark = pytest.mark.slow

GENERATOR = str(Path(sys.executable).with_name("openapi-python-client"))
PACKAGE = "gateway_client"


@pytest.fixture
def served(
    job_environment: Redis,  # noqa: F811 - the fixture imported above
    settings: Settings,
) -> Iterator[str]:
    keys = settings.processor.authorize_net_signature_keys
    assert keys
    with serving({"GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS": keys[0]}) as url:
        yield url


@pytest.fixture
async def committed_key(make_committed_key: KeyFactory) -> str:
    return await make_committed_key(Scope.PAYMENTS_READ, Scope.PAYMENTS_WRITE)


@pytest.fixture
def generated(served: str, tmp_path: Path) -> Iterator[ModuleType]:
    """The client package, generated from what the server serves and imported."""
    document = tmp_path / "openapi.json"
    document.write_bytes(httpx.get(f"{served}/schema/openapi.json", timeout=30).content)
    subprocess.run(  # noqa: S603 - our own command line
        [
            GENERATOR,
            "generate",
            "--path",
            str(document),
            "--output-path",
            str(tmp_path / PACKAGE),
            "--meta",
            "none",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=120,
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def _card(models: ModuleType) -> object:
    return models.CardIn(number="4111111111111111", exp_month=12, exp_year=2030, cvv="123")


def test_a_generated_client_purchases_refunds_and_sees_a_decline(
    generated: ModuleType, served: str, committed_key: str
) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    purchase = importlib.import_module(f"{PACKAGE}.api.payments.api_v1_payments_purchase_purchase")
    refund = importlib.import_module(f"{PACKAGE}.api.payments.api_v1_payments_refund_refund")
    client = generated.AuthenticatedClient(base_url=served, token=committed_key)

    charged = purchase.sync_detailed(
        client=client,
        body=models.ChargeIn(
            amount=2500,
            currency="USD",
            payment_method=models.PaymentMethodIn(card=_card(models)),
        ),
        idempotency_key="client-purchase-1",
    )
    assert charged.status_code == 201, charged.content
    transaction = charged.parsed
    assert isinstance(transaction, models.TransactionOut)
    assert is_id(transaction.id, "txn")
    assert (transaction.status, transaction.amount) == ("captured", 2500)

    refunded = refund.sync_detailed(
        client=client,
        body=models.RefundIn(transaction_id=transaction.id),
        idempotency_key="client-refund-1",
    )
    assert refunded.status_code == 201, refunded.content
    assert isinstance(refunded.parsed, models.TransactionOut)
    assert refunded.parsed.type_ == "refund"
    assert refunded.parsed.parent_id == transaction.id

    declined = purchase.sync_detailed(
        client=client,
        body=models.ChargeIn(
            amount=1500,
            currency="USD",
            payment_method=models.PaymentMethodIn(card=_card(models)),
            # The simulator's trigger for a decline with reason code 2 (README).
            billing_address=models.AddressIn(
                line1="1 Main St", city="Indianapolis", postal_code="46282", country="US"
            ),
        ),
        idempotency_key="client-decline-1",
    )
    assert declined.status_code == 402, declined.content
    problem = declined.parsed
    assert isinstance(problem, models.Problem)
    assert problem.code == "card_declined"
    assert is_id(problem.additional_properties["transaction_id"], "txn")
