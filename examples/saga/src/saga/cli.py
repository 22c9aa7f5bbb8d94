"""`saga`: stock a product, place an order, recover unfinished ones (once or on a loop)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import click
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from saga.gateway import Gateway
from saga.models import Base, Order
from saga.saga import OutOfStock, Saga
from saga.settings import SettingsError, load_settings

T = TypeVar("T")
VISA = {"number": "4111111111111111", "exp_month": 12, "exp_year": 2030, "cvv": "123"}
_SCHEMA_LOCK = 0x73616761


async def _ensure_database(url: str) -> None:
    target = make_url(url)
    admin = create_async_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            found = await connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
            )
            if not found:
                await connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        await admin.dispose()


@asynccontextmanager
async def _saga() -> AsyncIterator[Saga]:
    try:
        settings = load_settings()
    except SettingsError as error:
        click.echo(f"saga: {error}", err=True)
        sys.exit(2)
    await _ensure_database(settings.database_url)
    engine = create_async_engine(settings.database_url)
    gateway = Gateway(settings.gateway_url, settings.gateway_api_key)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK})
            await connection.run_sync(Base.metadata.create_all)
        yield Saga(
            async_sessionmaker(engine, expire_on_commit=False), gateway, fault=settings.fault
        )
    finally:
        await gateway.aclose()
        await engine.dispose()


def _run(work: Callable[[Saga], Awaitable[T]]) -> T:
    async def main_() -> T:
        async with _saga() as saga:
            return await work(saga)

    return asyncio.run(main_())


async def _view(saga: Saga, order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "status": order.status,
        "reason": order.reason,
        "amount": order.amount,
        "mode": order.mode,
        "payment_id": order.payment_id,
        "log": [f"{step}: {detail}" for step, detail in await saga.log(order.id)],
    }


@click.group()
def main() -> None:
    """The order saga example, on the gateway's public API."""
    logging.basicConfig(level=logging.WARNING)


@main.command()
@click.argument("sku")
@click.argument("quantity", type=int)
@click.option("--price", type=int, required=True, help="Per unit, in minor units.")
def stock(sku: str, quantity: int, price: int) -> None:
    """Set SKU's stock and price."""
    _run(lambda saga: saga.stock(sku, quantity, price))
    click.echo(f"{sku}: {quantity} in stock at {price}")


@main.command()
@click.argument("sku")
@click.argument("quantity", type=int)
@click.option("--mode", type=click.Choice(["purchase", "authorize"]), default="purchase")
@click.option("--fail-shipping", is_flag=True, help="The carrier refuses: compensate.")
def order(sku: str, quantity: int, mode: str, fail_shipping: bool) -> None:
    """Place an order (paid with a test card) and run its saga; print it as JSON."""

    async def work(saga: Saga) -> dict[str, Any]:
        placed = await saga.place(sku, quantity, VISA, mode=mode, fail_shipping=fail_shipping)
        return await _view(saga, placed)

    try:
        click.echo(json.dumps(_run(work), indent=2))
    except OutOfStock:
        click.echo(f"saga: not enough {sku} in stock", err=True)
        sys.exit(1)


@main.command()
@click.argument("order_id")
def show(order_id: str) -> None:
    """Print an order and its log as JSON."""

    async def work(saga: Saga) -> dict[str, Any]:
        return await _view(saga, await saga.order(order_id))

    click.echo(json.dumps(_run(work), indent=2))


@main.command()
@click.option("--loop", "interval", type=float, default=None, help="Repeat every N seconds.")
def recover(interval: float | None) -> None:
    """Drive every unfinished order on from the step it is at (after a crash)."""

    async def work(saga: Saga) -> None:
        while True:
            count = await saga.recover()
            click.echo(f"recovered {count} unfinished order(s)")
            if interval is None:
                return
            await asyncio.sleep(interval)

    _run(work)
