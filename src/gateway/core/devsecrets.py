"""Secrets made up for development, persisted so every process and restart agrees.

Production never reaches this module: `load_settings` refuses to start there
without real values. Tests get fresh secrets per process and persist nothing.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

import msgspec

from gateway.core.settings import Settings

SECRETS_FILE = "secrets.json"


def _generate() -> dict[str, str]:
    return {
        "encryption_keys": "dev1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "fingerprint_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        "blind_index_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        "signature_key": secrets.token_hex(64).upper(),
        "dashboard_password": secrets.token_urlsafe(18),
        # Authorize.Net's shapes: an API Login ID of 8-25 characters, a 16-character key.
        "sandbox_login_id": "sbx" + secrets.token_hex(5),
        "sandbox_transaction_key": secrets.token_hex(8),
        "console_secret": secrets.token_urlsafe(48),
        # `gateway up`'s development operator (console/demo.py).
        "console_operator_password": secrets.token_urlsafe(15),
    }


def _load_or_create(path: Path) -> dict[str, str]:
    generated = _generate()
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        if generated.keys() <= stored.keys():
            return stored
        generated.update(stored)  # keep what exists, add what a newer version needs
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(generated, handle, indent=2)
    temporary.replace(path)
    return generated


def development_operator_password(settings: Settings) -> str:
    """The development operator's password, kept with the other development secrets."""
    if settings.is_production:
        raise RuntimeError("no development operator in production")
    return _load_or_create(settings.data_dir / SECRETS_FILE)["console_operator_password"]


def with_development_secrets(settings: Settings) -> Settings:
    """Fill every unset secret; persisted under the data folder in development."""
    if settings.is_production:
        return settings
    if settings.core.env == "development":
        values = _load_or_create(settings.data_dir / SECRETS_FILE)
    else:
        values = _generate()
    replace = msgspec.structs.replace
    return replace(
        settings,
        secrets=replace(
            settings.secrets,
            encryption_keys=settings.secrets.encryption_keys or values["encryption_keys"],
            fingerprint_key=settings.secrets.fingerprint_key or values["fingerprint_key"],
            blind_index_key=settings.secrets.blind_index_key or values["blind_index_key"],
        ),
        processor=replace(
            settings.processor,
            authorize_net_signature_keys=settings.processor.authorize_net_signature_keys
            or (values["signature_key"],),
        ),
        dashboard=replace(
            settings.dashboard,
            password=settings.dashboard.password or values["dashboard_password"],
        ),
        sandbox=replace(
            settings.sandbox,
            login_id=settings.sandbox.login_id or values["sandbox_login_id"],
            transaction_key=settings.sandbox.transaction_key or values["sandbox_transaction_key"],
        ),
        console=replace(
            settings.console, secret=settings.console.secret or values["console_secret"]
        ),
    )
