"""The rules of merchants' webhook endpoints and of re-sending their deliveries
(issue 18, API.md "Webhooks / Outbound"), for the API (one merchant in one mode)
and for operators (`owner` None: every merchant).

A URL is checked against the SSRF guard whenever it is set; the signing secret
is sealed before it reaches the row and is handed back only by `create` and
`rotate_secret`, never logged nor audited. Re-sending only makes a delivery due
now: the delivery worker's sweep sends it. The service never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import msgspec
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.service import Actor, HistoryService, Subject
from gateway.core.clock import Clock
from gateway.core.crypto import FieldCrypto
from gateway.core.errors import InvalidState, NotFound, ValidationFailed
from gateway.core.ids import new_id
from gateway.core.tenancy import Owner
from gateway.vault.pci_scan.finders import find_card_numbers
from gateway.webhooks.outbound.destinations import Resolver, check_destination
from gateway.webhooks.outbound.event_types import EVENT_TYPES, EVERY_EVENT
from gateway.webhooks.outbound.models import DELIVERY_STATUSES, WebhookDelivery, WebhookEndpoint
from gateway.webhooks.outbound.repository import (
    DeliveryFilters,
    DeliveryRepository,
    EndpointRepository,
)
from gateway.webhooks.outbound.schemas import EndpointChange, NewEndpoint
from gateway.webhooks.outbound.sealing import open_secrets, seal_secrets
from gateway.webhooks.outbound.signing import SigningSecrets, new_secret

MERCHANT_DISABLED = "disabled by the merchant"
OPERATOR_DISABLED = "disabled by an operator"

_log = structlog.get_logger("gateway.webhooks.outbound")


@dataclass(frozen=True)
class Destinations:
    """How URLs are checked: production's rules or not, and who resolves names."""

    production: bool
    resolve: Resolver

    async def check(self, url: str) -> None:
        await check_destination(url, production=self.production, resolve=self.resolve)


def event_types(events: Sequence[str]) -> list[str]:
    """An endpoint's subscription: known types (each once, in the order given),
    or `["*"]` alone. Raises ValidationFailed naming `events` or `events.<i>`."""
    if not events:
        raise ValidationFailed.for_field("events", "at least one event type")
    if EVERY_EVENT in events:
        if len(events) != 1:
            raise ValidationFailed.for_field("events", '["*"] stands alone')
        return [EVERY_EVENT]
    for index, event_type in enumerate(events):
        if event_type not in EVENT_TYPES:
            raise ValidationFailed.for_field(f"events.{index}", "not an event type (see API.md)")
    return list(dict.fromkeys(events))


def description_text(description: str | None) -> str | None:
    """Free text never holds a card number (API.md); the error never echoes it."""
    if description is None:
        return None
    if "\x00" in description:
        raise ValidationFailed.for_field("description", "must not contain NUL")
    if find_card_numbers(description):
        raise ValidationFailed.for_field("description", "must not contain a card number")
    return description


def delivery_status(status: str | None) -> str | None:
    if status is not None and status not in DELIVERY_STATUSES:
        raise ValidationFailed.for_field("status", f"one of {', '.join(DELIVERY_STATUSES)}")
    return status


def aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.utcoffset() is None:
        raise ValidationFailed.for_field(field, "an RFC 3339 time with an offset")
    return value


class EndpointService:
    def __init__(
        self,
        session: AsyncSession,
        clock: Clock,
        crypto: FieldCrypto,
        destinations: Destinations,
    ) -> None:
        self.clock = clock
        self.crypto = crypto
        self.destinations = destinations
        self.endpoints = EndpointRepository(session)
        self.deliveries = DeliveryRepository(session)
        self.history = HistoryService(session, clock)

    # -- endpoints ------------------------------------------------------------

    async def create(
        self, owner: Owner, data: NewEndpoint, actor: Actor
    ) -> tuple[WebhookEndpoint, str]:
        """A new endpoint and its secret (the only time the secret is shown,
        besides a rotation)."""
        events = event_types(data.events)
        description = description_text(data.description)
        await self.destinations.check(data.url)
        now = self.clock.now()
        endpoint = WebhookEndpoint(
            id=new_id("wep"),
            merchant_id=owner.merchant_id,
            livemode=owner.livemode,
            url=data.url,
            events=events,
            description=description,
            disabled=False,
            disabled_reason=None,
            last_success_at=None,
            failing_since=None,
            created_at=now,
            updated_at=now,
        )
        secret = new_secret()
        seal_secrets(self.crypto, endpoint, SigningSecrets(current=secret))
        self.endpoints.add(endpoint)
        await self._audit(endpoint, "webhook_endpoint.create", actor)
        _log.info("webhook_endpoint.created", endpoint_id=endpoint.id, events=len(events))
        return endpoint, secret

    async def get(self, owner: Owner | None, endpoint_id: str) -> WebhookEndpoint:
        endpoint = await self.endpoints.get(endpoint_id, owner=owner)
        if endpoint is None:
            raise NotFound(f"No webhook endpoint {endpoint_id}.")
        return endpoint

    async def page(
        self,
        owner: Owner | None,
        *,
        cursor: str | None,
        limit: int,
        merchant_id: str | None = None,
    ) -> tuple[list[WebhookEndpoint], str | None]:
        return await self.endpoints.page(
            owner=owner, merchant_id=merchant_id, cursor=cursor, limit=limit
        )

    async def update(
        self, owner: Owner, endpoint_id: str, change: EndpointChange, actor: Actor
    ) -> WebhookEndpoint:
        """PATCH: only the fields given; a new URL is checked as at creation."""
        endpoint = await self._locked(owner, endpoint_id)
        changed: list[str] = []
        if change.events is not msgspec.UNSET:
            endpoint.events = event_types(change.events)
            changed.append("events")
        if change.description is not msgspec.UNSET:
            endpoint.description = description_text(change.description)
            changed.append("description")
        if change.url is not msgspec.UNSET:
            await self.destinations.check(change.url)
            endpoint.url = change.url
            changed.append("url")
        if change.disabled is not msgspec.UNSET:
            self._set_disabled(endpoint, change.disabled, MERCHANT_DISABLED)
            changed.append("disabled")
        endpoint.updated_at = self.clock.now()
        await self._audit(endpoint, "webhook_endpoint.update", actor, {"fields": changed})
        return endpoint

    async def set_disabled(
        self, owner: Owner | None, endpoint_id: str, disabled: bool, actor: Actor, *, reason: str
    ) -> WebhookEndpoint:
        """Disable with `reason`, or enable (which starts the give-up clock afresh)."""
        endpoint = await self._locked(owner, endpoint_id)
        self._set_disabled(endpoint, disabled, reason)
        endpoint.updated_at = self.clock.now()
        action = "webhook_endpoint.disable" if disabled else "webhook_endpoint.enable"
        await self._audit(endpoint, action, actor)
        return endpoint

    @staticmethod
    def _set_disabled(endpoint: WebhookEndpoint, disabled: bool, reason: str) -> None:
        if disabled:
            endpoint.disabled = True
            endpoint.disabled_reason = reason
        else:
            endpoint.disabled = False
            endpoint.disabled_reason = None
            # Enabled again: the failures before do not count toward giving up.
            endpoint.failing_since = None

    async def delete(self, owner: Owner, endpoint_id: str, actor: Actor) -> None:
        """The endpoint and its deliveries."""
        endpoint = await self._locked(owner, endpoint_id)
        await self._audit(endpoint, "webhook_endpoint.delete", actor)
        await self.endpoints.delete(endpoint)

    async def rotate_secret(
        self, owner: Owner, endpoint_id: str, actor: Actor
    ) -> tuple[WebhookEndpoint, str]:
        """A new secret; the one it replaces keeps signing beside it for the
        overlap (a rotation within the overlap drops the oldest)."""
        endpoint = await self._locked(owner, endpoint_id)
        now = self.clock.now()
        secret = new_secret()
        secrets = open_secrets(self.crypto, endpoint).rotated(secret, now=now)
        seal_secrets(self.crypto, endpoint, secrets)
        endpoint.updated_at = now
        await self._audit(endpoint, "webhook_endpoint.rotate_secret", actor)
        _log.info("webhook_endpoint.secret_rotated", endpoint_id=endpoint.id)
        return endpoint, secret

    # -- deliveries -----------------------------------------------------------

    async def deliveries_page(
        self, owner: Owner | None, filters: DeliveryFilters, *, cursor: str | None, limit: int
    ) -> tuple[list[WebhookDelivery], str | None]:
        """Deliveries newest first; with `filters.endpoint_id`, that endpoint's
        (404 when it is not the owner's)."""
        if filters.endpoint_id is not None:
            await self.get(owner, filters.endpoint_id)
        delivery_status(filters.status)
        aware(filters.created_gte, "created_gte")
        aware(filters.created_lt, "created_lt")
        return await self.deliveries.page(filters, owner=owner, cursor=cursor, limit=limit)

    async def get_delivery(self, owner: Owner | None, delivery_id: str) -> WebhookDelivery:
        delivery = await self.deliveries.get(delivery_id, owner=owner)
        if delivery is None:
            raise NotFound(f"No webhook delivery {delivery_id}.")
        return delivery

    async def retry_delivery(
        self, owner: Owner | None, delivery_id: str, actor: Actor
    ) -> WebhookDelivery:
        """Due now, whatever its status, attempts kept; 409 while an attempt is in flight."""
        delivery = await self.deliveries.get(delivery_id, owner=owner, for_update=True)
        if delivery is None:
            raise NotFound(f"No webhook delivery {delivery_id}.")
        now = self.clock.now()
        if delivery.leased_until is not None and delivery.leased_until > now:
            raise InvalidState(f"An attempt of {delivery_id} is in flight; retry once it ends.")
        await self.deliveries.requeue([delivery.id], at=now)
        await self.history.record_mutation(
            Subject(delivery.merchant_id, delivery.livemode, "webhook_delivery", delivery.id),
            "webhook_delivery.retry",
            actor,
            {"endpoint_id": delivery.endpoint_id},
        )
        return await self.get_delivery(owner, delivery_id)

    async def retry_deliveries(self, delivery_ids: Sequence[str], actor: Actor) -> list[str]:
        """An operator's retry of several; an unknown id stops everything first.
        Those in flight are skipped (they are being sent)."""
        unknown = [i for i in delivery_ids if await self.deliveries.get(i, owner=None) is None]
        if unknown:
            raise NotFound(f"No webhook delivery {', '.join(unknown)}.")
        return await self._requeue_audited(list(dict.fromkeys(delivery_ids)), actor)

    async def recover(
        self,
        owner: Owner | None,
        endpoint_id: str,
        actor: Actor,
        *,
        since: datetime,
        until: datetime | None = None,
    ) -> list[str]:
        """Every failed or dead delivery of the endpoint created in [since, until)
        (until: now) due again now; the ids requeued."""
        aware(since, "since")
        aware(until, "until")
        endpoint = await self.get(owner, endpoint_id)
        end = until if until is not None else self.clock.now()
        if since >= end:
            raise ValidationFailed.for_field("since", "must be before until")
        ids = await self.deliveries.recoverable_ids(endpoint.id, since=since, until=end)
        requeued = await self.deliveries.requeue(ids, at=self.clock.now())
        await self._audit(endpoint, "webhook_endpoint.recover", actor, {"recovered": len(requeued)})
        _log.info("webhook_endpoint.recovered", endpoint_id=endpoint.id, recovered=len(requeued))
        return requeued

    # -- helpers --------------------------------------------------------------

    async def _locked(self, owner: Owner | None, endpoint_id: str) -> WebhookEndpoint:
        endpoint = await self.endpoints.get(endpoint_id, owner=owner, for_update=True)
        if endpoint is None:
            raise NotFound(f"No webhook endpoint {endpoint_id}.")
        return endpoint

    async def _requeue_audited(self, delivery_ids: list[str], actor: Actor) -> list[str]:
        requeued = await self.deliveries.requeue(delivery_ids, at=self.clock.now())
        for delivery_id in requeued:
            delivery = await self.get_delivery(None, delivery_id)
            await self.history.record_mutation(
                Subject(delivery.merchant_id, delivery.livemode, "webhook_delivery", delivery.id),
                "webhook_delivery.retry",
                actor,
                {"endpoint_id": delivery.endpoint_id},
            )
        return requeued

    async def _audit(
        self,
        endpoint: WebhookEndpoint,
        action: str,
        actor: Actor,
        details: dict[str, object] | None = None,
    ) -> None:
        # Ids and field names only: never the URL's secrets nor the signing secret.
        await self.history.record_mutation(
            Subject(endpoint.merchant_id, endpoint.livemode, "webhook_endpoint", endpoint.id),
            action,
            actor,
            details,
        )
