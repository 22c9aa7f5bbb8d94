"""EndpointService without HTTP: the secret's rotation, enabling after a give-up,
recovery's window and operators' retries (issue 18 points 1 and 6)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.models import AuditEntry
from gateway.audit.service import Actor
from gateway.core.clock import FrozenClock
from gateway.core.crypto import FieldCrypto
from gateway.core.errors import NotFound, ValidationFailed
from gateway.core.tenancy import Owner
from gateway.merchants.models import Merchant
from gateway.webhooks.outbound.destinations import system_resolver
from gateway.webhooks.outbound.endpoints import Destinations, EndpointService
from gateway.webhooks.outbound.models import WebhookEndpoint
from gateway.webhooks.outbound.schemas import NewEndpoint
from gateway.webhooks.outbound.sealing import open_secrets
from gateway.webhooks.outbound.signing import ROTATION_OVERLAP
from tests.webhooks.outbound.conftest import DeliveryFactory

API = Actor(kind="api", request_id="req_test", api_key_id="key_test")
OPERATOR = Actor(kind="operator")


@pytest.fixture
def service(
    db_session: AsyncSession, clock: FrozenClock, field_crypto: FieldCrypto
) -> EndpointService:
    # Outside production 127.0.0.1 resolves to itself: no lookup leaves the machine.
    return EndpointService(
        db_session, clock, field_crypto, Destinations(production=False, resolve=system_resolver)
    )


@pytest.fixture
def owner(merchant: Merchant) -> Owner:
    return Owner(merchant.id, livemode=False)


async def made(service: EndpointService, owner: Owner) -> tuple[WebhookEndpoint, str]:
    endpoint, secret = await service.create(
        owner, NewEndpoint(url="http://127.0.0.1:9/in", events=["payment.captured"]), API
    )
    await service.endpoints.session.flush()
    return endpoint, secret


async def test_the_stored_secret_is_sealed_and_opens_to_the_one_shown(
    service: EndpointService, owner: Owner, field_crypto: FieldCrypto
) -> None:
    endpoint, secret = await made(service, owner)
    assert secret not in endpoint.secret_encrypted
    assert open_secrets(field_crypto, endpoint).at(service.clock.now()) == (secret,)


async def test_a_rotation_keeps_the_old_secret_signing_for_24_hours_and_a_second_drops_the_oldest(
    service: EndpointService, owner: Owner, field_crypto: FieldCrypto, clock: FrozenClock
) -> None:
    endpoint, first = await made(service, owner)
    _, second = await service.rotate_secret(owner, endpoint.id, API)
    assert open_secrets(field_crypto, endpoint).at(clock.now()) == (second, first)
    clock.advance(timedelta(hours=1))
    _, third = await service.rotate_secret(owner, endpoint.id, API)
    secrets = open_secrets(field_crypto, endpoint)
    assert secrets.at(clock.now()) == (third, second)
    assert secrets.previous_until == clock.now() + ROTATION_OVERLAP
    clock.advance(ROTATION_OVERLAP)
    assert open_secrets(field_crypto, endpoint).at(clock.now()) == (third,)


async def test_enabling_clears_the_reason_and_restarts_the_give_up_clock(
    service: EndpointService, owner: Owner, clock: FrozenClock
) -> None:
    endpoint, _ = await made(service, owner)
    endpoint.disabled = True
    endpoint.disabled_reason = "no successful delivery for 5 days"
    endpoint.failing_since = clock.now() - timedelta(days=6)
    enabled = await service.set_disabled(None, endpoint.id, False, OPERATOR, reason="")
    assert (enabled.disabled, enabled.disabled_reason, enabled.failing_since) == (False, None, None)
    disabled = await service.set_disabled(
        None, endpoint.id, True, OPERATOR, reason="receiver retired"
    )
    assert (disabled.disabled, disabled.disabled_reason) == (True, "receiver retired")


async def test_recover_takes_the_half_open_window_and_only_failed_or_dead(
    service: EndpointService,
    owner: Owner,
    merchant: Merchant,
    add_delivery: DeliveryFactory,
    clock: FrozenClock,
) -> None:
    endpoint, _ = await made(service, owner)
    since = clock.now() - timedelta(hours=10)
    until = clock.now() - timedelta(hours=2)
    at_since = await add_delivery(endpoint.id, merchant.id, status="dead", created_at=since)
    at_until = await add_delivery(endpoint.id, merchant.id, status="dead", created_at=until)
    failed = await add_delivery(
        endpoint.id, merchant.id, status="failed", created_at=since + timedelta(hours=1)
    )
    await add_delivery(
        endpoint.id, merchant.id, status="succeeded", created_at=since + timedelta(hours=2)
    )
    recovered = await service.recover(owner, endpoint.id, API, since=since, until=until)
    assert sorted(recovered) == sorted([at_since.id, failed.id])
    again = await service.get_delivery(owner, at_since.id)
    assert (again.status, again.next_attempt_at) == ("pending", clock.now())
    assert (await service.get_delivery(owner, at_until.id)).status == "dead"
    with pytest.raises(ValidationFailed):
        await service.recover(owner, endpoint.id, API, since=until, until=since)


async def test_an_operator_retry_with_an_unknown_id_changes_nothing(
    service: EndpointService,
    owner: Owner,
    merchant: Merchant,
    add_delivery: DeliveryFactory,
    db_session: AsyncSession,
) -> None:
    endpoint, _ = await made(service, owner)
    dead = await add_delivery(endpoint.id, merchant.id, status="dead")
    with pytest.raises(NotFound):
        await service.retry_deliveries([dead.id, "whd_0000000000000000"], OPERATOR)
    assert (await service.get_delivery(None, dead.id)).status == "dead"
    assert await service.retry_deliveries([dead.id, dead.id], OPERATOR) == [dead.id]
    audited = (
        await db_session.scalars(select(AuditEntry).where(AuditEntry.object_id == dead.id))
    ).all()
    assert [(row.action, row.object_type, row.merchant_id) for row in audited] == [
        ("webhook_delivery.retry", "webhook_delivery", merchant.id)
    ]


@pytest.mark.parametrize("description", ["tab\x00null", "pay 5555-5555-5555-4444 now"])
async def test_a_description_holding_nul_or_a_card_number_is_refused(
    service: EndpointService, owner: Owner, description: str
) -> None:
    body = NewEndpoint(url="http://127.0.0.1:9/in", events=["*"], description=description)
    with pytest.raises(ValidationFailed) as refused:
        await service.create(owner, body, API)
    assert [error.field for error in refused.value.errors] == ["description"]
    assert "5555" not in str(refused.value.detail)
