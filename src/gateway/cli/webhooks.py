"""`gateway webhooks list|replay`: every stored inbound event, matched or not."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import click
import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.audit.service import Actor
from gateway.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    database_work,
    emit,
    fail,
    json_option,
    load_settings_or_exit,
    running_servers,
    table,
)
from gateway.composition.process import command_sessions
from gateway.core.clock import Clock, SystemClock
from gateway.core.queues import nudge_relay
from gateway.core.settings import Settings
from gateway.webhooks.models import WebhookEvent
from gateway.webhooks.repository import WebhookEventRepository
from gateway.webhooks.schemas import EVENT_STATUSES, WebhookEventOut
from gateway.webhooks.service import WebhookEventService

OPERATOR = Actor(kind="operator")
_REPLAY_BATCH = 100


class EventView(WebhookEventOut):
    """An event as an operator sees it: the API's fields, and what it matched."""

    merchant_id: str | None
    livemode: bool | None
    transaction_id: str | None


def _view(event: WebhookEvent) -> EventView:
    return EventView(
        **msgspec.structs.asdict(WebhookEventOut.of(event)),
        merchant_id=event.merchant_id,
        livemode=event.livemode,
        transaction_id=event.transaction_id,
    )


@click.group()
def webhooks() -> None:
    """Inbound processor events: list them, replay them."""


@webhooks.command("list")
@click.option("--status", type=click.Choice(EVENT_STATUSES), help="Only events in this status.")
@click.option(
    "--limit", type=click.IntRange(1, 1000), default=100, show_default=True, help="At most."
)
@json_option
def list_events(status: str | None, limit: int, as_json: bool) -> None:
    """List stored events newest first, matched to a transaction or not."""

    async def work(session: AsyncSession, clock: Clock) -> list[WebhookEvent]:
        rows, _ = await WebhookEventService(session, clock).page(
            None, status=status, cursor=None, limit=limit
        )
        return rows

    views = [_view(event) for event in database_work(work)]
    emit(
        {"data": views},
        as_json=as_json,
        human=lambda: table(
            [
                (
                    v.id,
                    v.source,
                    v.event_type.removeprefix("net.authorize."),
                    v.entity_id or "-",
                    v.status,
                    v.outcome or "-",
                    str(v.attempts),
                    v.transaction_id or "-",
                    v.received_at.isoformat(timespec="seconds"),
                )
                for v in views
            ],
            [
                "ID",
                "SOURCE",
                "TYPE",
                "ENTITY",
                "STATUS",
                "OUTCOME",
                "ATTEMPTS",
                "TRANSACTION",
                "RECEIVED",
            ],
        ),
    )


@webhooks.command("replay")
@click.argument("event_ids", metavar="[ID...]", nargs=-1)
@click.option(
    "--status",
    type=click.Choice(["dead", "failed"]),
    help="Replay every event in this status (instead of IDs).",
)
@json_option
def replay(event_ids: tuple[str, ...], status: str | None, as_json: bool) -> None:
    """Process events again, with a fresh set of retries: the IDs given, or every
    event of --status. A worker picks them up through the outbox relay."""
    if bool(event_ids) == bool(status):
        fail("give event ids or --status, not both and not neither", code=EXIT_USAGE)
    settings = load_settings_or_exit()
    with running_servers(settings) as ready:
        replayed = asyncio.run(_replay(ready, event_ids, status, progress=not as_json))
        assert ready.redis.url is not None
        nudged = nudge_relay(ready.redis.url)
    if not nudged and not as_json:
        click.echo("gateway: Redis did not answer; cron relays them once it does", err=True)
    emit(
        {"replayed": replayed},
        as_json=as_json,
        human=lambda: f"replayed {replayed} event(s)",
    )


async def _replay(
    settings: Settings, event_ids: Sequence[str], status: str | None, *, progress: bool
) -> int:
    clock = SystemClock()
    async with command_sessions(settings) as sessions:
        chosen = await _chosen(sessions, event_ids, status)
        replayed = 0
        with click.progressbar(
            length=len(chosen),
            label="replaying",
            hidden=not progress,
            file=sys.stderr,
        ) as bar:
            for start in range(0, len(chosen), _REPLAY_BATCH):
                batch = chosen[start : start + _REPLAY_BATCH]
                async with sessions() as session:
                    service = WebhookEventService(session, clock)
                    replayed += len(await service.replay_ids(batch, OPERATOR))
                    await session.commit()
                bar.update(len(batch))
        return replayed


async def _chosen(
    sessions: async_sessionmaker[AsyncSession], event_ids: Sequence[str], status: str | None
) -> list[str]:
    """The ids to replay; an unknown id stops everything before anything changes."""
    async with sessions() as session:
        repository = WebhookEventRepository(session)
        if status is not None:
            return await repository.ids_with_status(status, owner=None)
        unknown = [event_id for event_id in event_ids if await repository.get(event_id) is None]
    if unknown:
        fail(f"no webhook event {', '.join(unknown)}", code=EXIT_FAILED)
    return list(dict.fromkeys(event_ids))
