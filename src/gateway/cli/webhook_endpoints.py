"""`gateway webhook-endpoints list|disable|enable` and `gateway deliveries
list|retry` (API.md "Running", issue 18 point 6): operators' view of merchants'
outbound webhooks, across every merchant and both modes, through the same
service as the API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.service import Actor
from gateway.cli.common import (
    EXIT_USAGE,
    emit,
    fail,
    json_option,
    load_settings_or_exit,
    run_in_session,
    running_servers,
    table,
)
from gateway.composition.resources import field_crypto
from gateway.core.clock import Clock
from gateway.core.settings import Settings
from gateway.webhooks.outbound.destinations import system_resolver
from gateway.webhooks.outbound.endpoints import OPERATOR_DISABLED, Destinations, EndpointService
from gateway.webhooks.outbound.models import DELIVERY_STATUSES, WebhookDelivery, WebhookEndpoint
from gateway.webhooks.outbound.repository import DeliveryFilters
from gateway.webhooks.outbound.schemas import DeliveryOut, EndpointOut

OPERATOR = Actor(kind="operator")
T = TypeVar("T")


class EndpointView(EndpointOut, kw_only=True):
    """An endpoint as an operator sees it: the API's fields and whose it is."""

    merchant_id: str


class DeliveryView(DeliveryOut, kw_only=True):
    merchant_id: str
    livemode: bool


def _endpoint_view(endpoint: WebhookEndpoint) -> EndpointView:
    out = EndpointOut.of(endpoint)
    return EndpointView(
        **{f: getattr(out, f) for f in out.__struct_fields__}, merchant_id=endpoint.merchant_id
    )


def _delivery_view(delivery: WebhookDelivery) -> DeliveryView:
    out = DeliveryOut.of(delivery)
    return DeliveryView(
        **{f: getattr(out, f) for f in out.__struct_fields__},
        merchant_id=delivery.merchant_id,
        livemode=delivery.livemode,
    )


def _with_service(work: Callable[[EndpointService], Awaitable[T]]) -> T:
    """`work` on the service in one committed transaction (the CLI's edge)."""
    settings = load_settings_or_exit()
    with running_servers(settings, redis=False) as ready:

        async def run(session: AsyncSession, clock: Clock) -> T:
            return await work(_service(ready, session, clock))

        return run_in_session(ready, run)


def _service(settings: Settings, session: AsyncSession, clock: Clock) -> EndpointService:
    destinations = Destinations(production=settings.is_production, resolve=system_resolver)
    return EndpointService(session, clock, field_crypto(settings), destinations)


def _time(_: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("an RFC 3339 time with an offset") from None
    if parsed.utcoffset() is None:
        raise click.BadParameter("an RFC 3339 time with an offset")
    return parsed


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.isoformat(timespec="seconds")


_limit = click.option(
    "--limit", type=click.IntRange(1, 100), default=100, show_default=True, help="At most."
)


@click.group("webhook-endpoints")
def webhook_endpoints() -> None:
    """Merchants' outbound webhook endpoints: list, disable, enable."""


@webhook_endpoints.command("list")
@click.option("--merchant", "merchant_id", help="Only this merchant's endpoints.")
@_limit
@json_option
def list_endpoints(merchant_id: str | None, limit: int, as_json: bool) -> None:
    """List endpoints newest first, of every merchant and mode."""

    async def work(service: EndpointService) -> list[EndpointView]:
        rows, _ = await service.page(None, merchant_id=merchant_id, cursor=None, limit=limit)
        return [_endpoint_view(row) for row in rows]

    views = _with_service(work)
    emit(
        {"data": views},
        as_json=as_json,
        human=lambda: table(
            [
                (
                    v.id,
                    v.merchant_id,
                    "live" if v.livemode else "test",
                    ",".join(v.events),
                    "disabled" if v.disabled else "enabled",
                    v.disabled_reason or "-",
                    v.url,
                )
                for v in views
            ],
            ["ID", "MERCHANT", "MODE", "EVENTS", "STATE", "REASON", "URL"],
        ),
    )


def _set_disabled(endpoint_id: str, disabled: bool, reason: str, as_json: bool) -> None:
    async def work(service: EndpointService) -> EndpointView:
        endpoint = await service.set_disabled(None, endpoint_id, disabled, OPERATOR, reason=reason)
        return _endpoint_view(endpoint)

    view = _with_service(work)
    emit(
        view,
        as_json=as_json,
        human=lambda: f"{view.id} {'disabled' if view.disabled else 'enabled'}",
    )


@webhook_endpoints.command("disable")
@click.argument("endpoint_id", metavar="ID")
@click.option(
    "--reason", default=OPERATOR_DISABLED, show_default=True, help="Shown to the merchant."
)
@json_option
def disable(endpoint_id: str, reason: str, as_json: bool) -> None:
    """Stop delivering to an endpoint (its deliveries wait until it is enabled)."""
    _set_disabled(endpoint_id, True, reason, as_json)


@webhook_endpoints.command("enable")
@click.argument("endpoint_id", metavar="ID")
@json_option
def enable(endpoint_id: str, as_json: bool) -> None:
    """Deliver to an endpoint again; its failures so far no longer count."""
    _set_disabled(endpoint_id, False, "", as_json)


@click.group()
def deliveries() -> None:
    """Outbound webhook deliveries: list them, send them again."""


@deliveries.command("list")
@click.option(
    "--status", type=click.Choice(DELIVERY_STATUSES), help="Only deliveries in this status."
)
@click.option("--endpoint", "endpoint_id", help="Only this endpoint's deliveries.")
@_limit
@json_option
def list_deliveries(status: str | None, endpoint_id: str | None, limit: int, as_json: bool) -> None:
    """List deliveries newest first, of every merchant and mode."""

    async def work(service: EndpointService) -> list[DeliveryView]:
        filters = DeliveryFilters(endpoint_id=endpoint_id, status=status)
        rows, _ = await service.deliveries_page(None, filters, cursor=None, limit=limit)
        return [_delivery_view(row) for row in rows]

    views = _with_service(work)
    emit(
        {"data": views},
        as_json=as_json,
        human=lambda: table(
            [
                (
                    v.id,
                    v.endpoint_id,
                    v.event_type,
                    v.status,
                    str(v.attempts),
                    "-" if v.last_status_code is None else str(v.last_status_code),
                    _when(v.next_attempt_at),
                    _when(v.created_at),
                )
                for v in views
            ],
            ["ID", "ENDPOINT", "TYPE", "STATUS", "ATTEMPTS", "LAST", "NEXT", "CREATED"],
        ),
    )


@deliveries.command("retry")
@click.argument("delivery_ids", metavar="[ID...]", nargs=-1)
@click.option("--endpoint", "endpoint_id", help="Every failed or dead delivery of this endpoint…")
@click.option("--since", callback=_time, help="…created at or after this RFC 3339 time…")
@click.option("--until", callback=_time, help="…and before this one (default: now).")
@json_option
def retry(
    delivery_ids: tuple[str, ...],
    endpoint_id: str | None,
    since: datetime | None,
    until: datetime | None,
    as_json: bool,
) -> None:
    """Make deliveries due now (their attempts so far kept): the IDs given, or
    an endpoint's failed and dead ones of a window. The delivery sweep sends them."""
    if bool(delivery_ids) == bool(endpoint_id):
        fail("give delivery ids or --endpoint with --since, not both", code=EXIT_USAGE)
    if endpoint_id is not None and since is None:
        fail("--endpoint needs --since", code=EXIT_USAGE)
    if delivery_ids and (since is not None or until is not None):
        fail("--since and --until go with --endpoint", code=EXIT_USAGE)

    async def work(service: EndpointService) -> list[str]:
        if endpoint_id is not None:
            assert since is not None
            return await service.recover(None, endpoint_id, OPERATOR, since=since, until=until)
        return await service.retry_deliveries(delivery_ids, OPERATOR)

    retried = _with_service(work)
    emit(
        {"retried": len(retried), "data": retried},
        as_json=as_json,
        human=lambda: f"retried {len(retried)} delivery(ies)",
    )
