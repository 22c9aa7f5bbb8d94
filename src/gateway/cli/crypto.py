"""`gateway crypto ...`: encryption key management."""

from __future__ import annotations

import click

from gateway.core.crypto import generate_key


@click.group()
def crypto() -> None:
    """Manage the field-encryption keys (GATEWAY_ENCRYPTION_KEYS)."""


@crypto.command("generate-key")
@click.option("--kid", help="The key id (default: a random one).")
def generate(kid: str | None) -> None:
    """Print a new `kid:base64key` entry. Put it first in GATEWAY_ENCRYPTION_KEYS to
    make it the active key; keep the old entries so existing rows stay readable."""
    try:
        click.echo(generate_key(kid))
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--kid") from None
