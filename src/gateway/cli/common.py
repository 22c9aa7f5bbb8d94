"""What every command shares: settings, servers, a database session, output."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, NoReturn, TypeVar

import click
import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.composition.process import command_sessions
from gateway.core.clock import Clock, SystemClock
from gateway.core.devsecrets import with_development_secrets
from gateway.core.embedded import embedded_servers
from gateway.core.errors import GatewayError, NotFound
from gateway.core.logging import configure_logging_for
from gateway.core.setting_types import SettingsError
from gateway.core.settings import Settings, load_settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

T = TypeVar("T")

json_option = click.option(
    "--json", "as_json", is_flag=True, help='Print JSON: an object, or {"data": [...]}.'
)


def load_settings_or_exit() -> Settings:
    """Settings with development secrets filled in; a bad value ends the process
    with one line naming the variable."""
    try:
        settings = with_development_secrets(load_settings())
    except SettingsError as error:
        click.echo(f"gateway: configuration error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    configure_logging_for(settings)
    return settings


@contextlib.contextmanager
def running_servers(settings: Settings, *, redis: bool = True) -> Iterator[Settings]:
    """Yield settings whose URLs point at running servers, starting the embedded
    PostgreSQL (and Redis, when wanted) for whichever URL is unset. Embedded
    databases are migrated first: they exist only for local use."""
    start_database = settings.database.url is None
    start_redis = redis and settings.redis.url is None
    if not (start_database or start_redis):
        yield settings
        return
    with embedded_servers(settings.data_dir, database=start_database, redis=start_redis) as urls:
        replace = msgspec.structs.replace
        ready = replace(
            settings,
            database=replace(settings.database, url=settings.database.url or urls.database_url),
            redis=replace(settings.redis, url=settings.redis.url or urls.redis_url),
        )
        if start_database:
            from gateway.core.migrations import upgrade_to_head  # noqa: PLC0415 - slow import

            assert ready.database.url is not None
            upgrade_to_head(ready.database.url)
        yield ready


def run_in_session(settings: Settings, work: Callable[[AsyncSession, Clock], Awaitable[T]]) -> T:
    """Run `work` in one transaction, committed when it returns (the CLI's edge)."""

    async def main() -> T:
        async with command_sessions(settings) as sessions, sessions() as session:
            result = await work(session, SystemClock())
            await session.commit()
            return result

    try:
        return asyncio.run(main())
    except NotFound as error:
        fail(error.detail, code=EXIT_FAILED)
    except GatewayError as error:
        fail(error.detail, code=EXIT_USAGE)


def database_work(work: Callable[[AsyncSession, Clock], Awaitable[T]]) -> T:
    """Load settings, reach the database (embedded if unset) and run `work`."""
    settings = load_settings_or_exit()
    with running_servers(settings, redis=False) as ready:
        return run_in_session(ready, work)


def fail(message: str, *, code: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"gateway: {message}", err=True)
    sys.exit(code)


def to_builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)


def emit(value: Any, *, as_json: bool, human: Callable[[], str]) -> None:
    if as_json:
        click.echo(msgspec.json.encode(to_builtins(value)).decode())
    else:
        click.echo(human())


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    if not rows:
        return "(none)"
    widths = [
        max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)
    ]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (headers, *rows)
    ]
    return "\n".join(lines)
