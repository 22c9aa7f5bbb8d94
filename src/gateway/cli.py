"""The `gateway` command line (API.md "Running").

Exit codes: 0 success, 1 a failed check or an unknown id, 2 usage or configuration
errors.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import click
import msgspec
import structlog

from gateway.core.devsecrets import with_development_secrets
from gateway.core.embedded import embedded_servers, terminate_on_signals
from gateway.core.logging import configure_logging
from gateway.core.settings import Settings, SettingsError, load_settings

EXIT_FAILED = 1
EXIT_USAGE = 2

_log = structlog.get_logger("gateway.cli")


def load_settings_or_exit() -> Settings:
    """Settings with development secrets filled in; a bad value ends the process
    with one line naming the variable."""
    try:
        settings = with_development_secrets(load_settings())
    except SettingsError as error:
        click.echo(f"gateway: configuration error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    configure_logging(level=settings.core.log_level, json=settings.core.log_json)
    return settings


@contextlib.contextmanager
def running_servers(settings: Settings) -> Iterator[Settings]:
    """Yield settings whose database and Redis URLs point at running servers,
    starting the embedded ones under the data folder for whichever URL is unset."""
    if not settings.uses_embedded_servers:
        yield settings
        return
    with embedded_servers(
        settings.data_dir,
        database=settings.database.url is None,
        redis=settings.redis.url is None,
    ) as urls:
        replace = msgspec.structs.replace
        yield replace(
            settings,
            database=replace(settings.database, url=settings.database.url or urls.database_url),
            redis=replace(settings.redis, url=settings.redis.url or urls.redis_url),
        )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Run and operate the payment gateway.

    With no DATABASE_URL / REDIS_URL set, commands that need them start an embedded
    PostgreSQL and Redis under ./.gateway-data/ (development only).
    """


@main.command()
def migrate() -> None:
    """Apply every pending database migration, then exit."""
    from gateway.core.migrations import upgrade_to_head  # noqa: PLC0415 - Alembic is slow to import

    settings = load_settings_or_exit()
    with terminate_on_signals(), running_servers(settings) as ready:
        assert ready.database.url is not None
        upgrade_to_head(ready.database.url)
    click.echo("migrations applied")


@main.command()
@click.option("--host", help="Listen address (default: GATEWAY_HOST).")
@click.option("--port", type=int, help="Listen port (default: GATEWAY_PORT).")
@click.option(
    "--migrate/--no-migrate",
    "migrate_first",
    default=None,
    help="Apply migrations before serving (default: only on embedded servers).",
)
def serve(host: str | None, port: int | None, migrate_first: bool | None) -> None:
    """Serve the HTTP API until Ctrl-C or SIGTERM."""
    import uvicorn  # noqa: PLC0415

    from gateway.app import create_app  # noqa: PLC0415
    from gateway.core.migrations import upgrade_to_head  # noqa: PLC0415

    settings = load_settings_or_exit()
    if migrate_first is None:
        migrate_first = settings.uses_embedded_servers
    with terminate_on_signals(), running_servers(settings) as ready:
        assert ready.database.url is not None
        if migrate_first:
            upgrade_to_head(ready.database.url)
        listen_host = host or ready.http.host
        listen_port = port or ready.http.port
        _log.info("api.listening", url=f"http://{listen_host}:{listen_port}")
        uvicorn.run(
            create_app(ready),
            host=listen_host,
            port=listen_port,
            log_config=None,
            access_log=False,
            proxy_headers=True,
            timeout_graceful_shutdown=5,
        )


if __name__ == "__main__":
    main()
