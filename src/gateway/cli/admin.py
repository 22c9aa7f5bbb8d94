"""`gateway merchants ...` and `gateway keys ...`: tenant administration."""

from __future__ import annotations

from datetime import datetime

import click
import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.cli.common import database_work as _run
from gateway.cli.common import emit, json_option, table
from gateway.core.clock import Clock
from gateway.core.errors import ValidationFailed
from gateway.merchants.models import ApiKey, Merchant
from gateway.merchants.schemas import ApiKeyOut
from gateway.merchants.scopes import Scope, parse_scopes
from gateway.merchants.service import IssuedKey, MerchantService

# Enough for any operator's listing; the API pages, the command line does not.
_LIST_LIMIT = 100


class MerchantView(msgspec.Struct):
    id: str
    name: str
    created_at: datetime
    max_amount: int | None = None
    rate_limit: int | None = None


def _view(merchant: Merchant, *, with_max_amount: bool = True) -> MerchantView:
    return MerchantView(
        id=merchant.id,
        name=merchant.name,
        created_at=merchant.created_at,
        max_amount=merchant.max_amount if with_max_amount else None,
        rate_limit=merchant.rate_limit,
    )


@click.group()
def merchants() -> None:
    """Create and list merchants (the gateway's tenants)."""


@merchants.command("create")
@click.argument("name")
@json_option
def create_merchant(name: str, as_json: bool) -> None:
    """Create a merchant called NAME."""

    async def work(session: AsyncSession, clock: Clock) -> Merchant:
        return await MerchantService(session, clock).create_merchant(name)

    merchant = _run(work)
    view = {"id": merchant.id, "name": merchant.name, "created_at": merchant.created_at}
    emit(view, as_json=as_json, human=lambda: f"created merchant {merchant.id} ({merchant.name})")


@merchants.command("list")
@json_option
def list_merchants(as_json: bool) -> None:
    """List merchants, newest first."""

    async def work(session: AsyncSession, clock: Clock) -> list[Merchant]:
        rows, _ = await MerchantService(session, clock).list_merchants(
            cursor=None, limit=_LIST_LIMIT
        )
        return rows

    views = [_view(merchant) for merchant in _run(work)]
    emit(
        {"data": views},
        as_json=as_json,
        human=lambda: table(
            [
                (
                    v.id,
                    v.name,
                    "default" if v.max_amount is None else str(v.max_amount),
                    v.created_at.isoformat(),
                )
                for v in views
            ],
            ("ID", "NAME", "MAX AMOUNT", "CREATED"),
        ),
    )


@merchants.command("update")
@click.argument("merchant_id", metavar="ID")
@click.option(
    "--max-amount",
    type=click.IntRange(min=0),
    default=None,
    help="Largest amount per charge in minor units; 0 returns to GATEWAY_MAX_AMOUNT.",
)
@click.option(
    "--rate-limit",
    type=click.IntRange(min=0),
    default=None,
    help="Requests per second per key, for reads and writes each (bursts up to twice);"
    " 0 returns to GATEWAY_RATE_LIMIT_LIVE_PER_S / GATEWAY_RATE_LIMIT_TEST_PER_S.",
)
@json_option
def update_merchant(
    merchant_id: str, max_amount: int | None, rate_limit: int | None, as_json: bool
) -> None:
    """Change a merchant's maximum amount per charge or its rate limit."""
    if max_amount is None and rate_limit is None:
        raise click.UsageError("give --max-amount, --rate-limit or both")

    async def work(session: AsyncSession, clock: Clock) -> Merchant:
        service = MerchantService(session, clock)
        merchant = await service.get_merchant(merchant_id)
        if max_amount is not None:
            merchant = await service.set_max_amount(merchant_id, max_amount or None)
        if rate_limit is not None:
            merchant = await service.set_rate_limit(merchant_id, rate_limit or None)
        return merchant

    view = _view(_run(work))
    emit(
        view,
        as_json=as_json,
        human=lambda: (
            f"updated merchant {view.id}: max amount {view.max_amount or 'default'},"
            f" rate limit {view.rate_limit or 'default'}"
        ),
    )


@click.group()
def keys() -> None:
    """Issue, list and revoke API keys."""


@keys.command("create")
@click.option("--merchant", "merchant_id", required=True, help="The merchant's id (mer_...).")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help=f"Repeatable, or comma-separated: {', '.join(scope.value for scope in Scope)}.",
)
@click.option("--live", is_flag=True, help="A live key (gw_live_...) instead of a test key.")
@json_option
def create_key(merchant_id: str, scopes: tuple[str, ...], live: bool, as_json: bool) -> None:
    """Issue an API key. The key is printed once and never stored."""
    try:
        parsed = parse_scopes(scopes, field="--scope")
    except ValidationFailed as error:
        raise click.BadParameter(error.errors[0].message, param_hint="--scope") from None

    async def work(session: AsyncSession, clock: Clock) -> IssuedKey:
        return await MerchantService(session, clock).create_key(merchant_id, parsed, livemode=live)

    issued = _run(work)
    key = issued.key
    emit(
        {"id": key.id, "key": issued.secret, "prefix": key.prefix, "scopes": list(key.scopes)},
        as_json=as_json,
        human=lambda: (
            f"created {'live' if live else 'test'} key {key.id}"
            f" with scopes {', '.join(key.scopes)}\n{issued.secret}\n(shown once: store it now)"
        ),
    )


@keys.command("list")
@click.option("--merchant", "merchant_id", required=True, help="The merchant's id (mer_...).")
@json_option
def list_keys(merchant_id: str, as_json: bool) -> None:
    """List a merchant's keys (test and live), newest first."""

    async def work(session: AsyncSession, clock: Clock) -> list[ApiKey]:
        service = MerchantService(session, clock)
        await service.get_merchant(merchant_id)
        rows, _ = await service.list_keys(
            merchant_id, livemode=None, cursor=None, limit=_LIST_LIMIT
        )
        return rows

    views = [ApiKeyOut.of(key) for key in _run(work)]
    emit(
        {"data": views},
        as_json=as_json,
        human=lambda: table(
            [
                (
                    v.id,
                    v.prefix + "...",
                    "live" if v.livemode else "test",
                    ",".join(v.scopes),
                    "revoked" if v.revoked_at else "active",
                    v.last_used_at.isoformat() if v.last_used_at else "never",
                )
                for v in views
            ],
            ("ID", "PREFIX", "MODE", "SCOPES", "STATE", "LAST USED"),
        ),
    )


@keys.command("revoke")
@click.argument("key_id", metavar="KEY_ID")
@json_option
def revoke_key(key_id: str, as_json: bool) -> None:
    """Revoke a key at once; requests with it are refused from now on."""

    async def work(session: AsyncSession, clock: Clock) -> ApiKey:
        return await MerchantService(session, clock).revoke_key(key_id)

    view = ApiKeyOut.of(_run(work))
    emit(view, as_json=as_json, human=lambda: f"revoked key {view.id} ({view.prefix}...)")
