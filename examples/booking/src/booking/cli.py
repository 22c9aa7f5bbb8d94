"""`booking serve`: the service, configured from the environment (settings.py)."""

from __future__ import annotations

import logging
import sys

import click
import uvicorn

from booking.app import create_app
from booking.settings import SettingsError, load_settings


@click.group()
def main() -> None:
    """The booking example: a merchant service on the gateway's public API."""


@main.command()
def serve() -> None:
    """Serve the API, with its webhook listener and expiry-and-recovery loop."""
    try:
        settings = load_settings()
    except SettingsError as error:
        click.echo(f"booking: {error}", err=True)
        sys.exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    click.echo(f"booking: http://{settings.host}:{settings.port} -> {settings.gateway_url}")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        # A restart never waits long on a kept-alive connection.
        timeout_graceful_shutdown=5,
    )
