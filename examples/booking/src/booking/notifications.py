"""The gateway's outbound webhooks: the endpoint this service registers, and each
delivery verified (Standard Webhooks, with the `standardwebhooks` library) and
recorded once. A webhook only says "look at this payment again"."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from booking.gateway import Gateway
from booking.ledger import Ledger
from booking.models import Notification, WebhookEndpoint

_log = logging.getLogger("booking.notifications")

EVENTS = [
    "payment.authorized",
    "payment.captured",
    "payment.declined",
    "payment.failed",
    "payment.voided",
    "payment.expired",
]


class WebhookRefused(Exception):
    def __init__(self, message: str, *, unsigned: bool) -> None:
        super().__init__(message)
        self.unsigned = unsigned


class Notifications:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], ledger: Ledger) -> None:
        self._sessions = sessions
        self._ledger = ledger
        self._verifier: Webhook | None = None

    async def register(self, gateway: Gateway, url: str) -> None:
        """Our endpoint at the gateway and its secret, made once and kept in our
        database; an endpoint whose secret we lost gets a new one by rotation."""
        async with self._sessions() as session:
            kept = await session.get(WebhookEndpoint, url)
            if kept is not None:
                self._verifier = Webhook(kept.secret)
                return
        existing = [e for e in await gateway.webhook_endpoints() if e.get("url") == url]
        if existing:
            answer = await gateway.rotate_webhook_secret(str(existing[0]["id"]))
        else:
            answer = await gateway.create_webhook_endpoint(url, EVENTS)
        if answer.status not in (200, 201):
            raise RuntimeError(f"the gateway refused our webhook endpoint: {answer.body}")
        secret, endpoint_id = str(answer.body["secret"]), str(answer.body["id"])
        async with self._sessions.begin() as session:
            await session.execute(
                insert(WebhookEndpoint)
                .values(url=url, endpoint_id=endpoint_id, secret=secret)
                .on_conflict_do_update(index_elements=["url"], set_={"secret": secret})
            )
        self._verifier = Webhook(secret)
        _log.info("webhook endpoint %s listens at %s", endpoint_id, url)

    async def receive(self, body: bytes, headers: dict[str, str]) -> str | None:
        """Verify and record one delivery; the hold it concerns, if it is ours."""
        if self._verifier is None:
            raise WebhookRefused("no endpoint registered", unsigned=True)
        try:
            payload: Any = self._verifier.verify(body, headers)
        except WebhookVerificationError as error:
            raise WebhookRefused(str(error), unsigned=True) from error
        except (ValueError, json.JSONDecodeError) as error:
            raise WebhookRefused(str(error), unsigned=False) from error
        if not isinstance(payload, dict):
            raise WebhookRefused("not an object", unsigned=False)
        payment = payload.get("data", {}).get("object", {})
        object_id = str(payment.get("id", ""))
        async with self._sessions.begin() as session:
            await session.execute(
                insert(Notification)
                .values(
                    id=str(payload.get("id")), type=str(payload.get("type")), object_id=object_id
                )
                .on_conflict_do_nothing(index_elements=["id"])
            )
        return await self._ledger.hold_for_payment(payment.get("order_id"), object_id)

    async def received(self, object_id: str) -> list[str]:
        async with self._sessions() as session:
            statement = select(Notification.type).where(Notification.object_id == object_id)
            return list((await session.scalars(statement)).all())
