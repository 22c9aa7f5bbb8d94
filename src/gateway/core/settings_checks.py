"""The rules a whole set of settings must keep, after each group parsed on its
own: fault injection never in production, a console secret given, production's
refusals of development conveniences (API.md "Running"), and what production
changes of its own accord."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from gateway.core.console_settings import console_secret_problem
from gateway.core.faults import FaultPoints
from gateway.core.production_secrets import (
    dashboard_password_problem,
    redis_url_problem,
    reused_key,
    signature_key_problem,
)
from gateway.core.setting_types import SettingsError

if TYPE_CHECKING:
    from gateway.core.settings import Settings


def checked(settings: Settings) -> Settings:
    """`settings` once every rule holds (SettingsError naming the first that does
    not), with production's own changes made."""
    _check_faults(settings)
    _check_console(settings)
    _check_production(settings)
    return _production_overrides(settings)


def _check_faults(settings: Settings) -> None:
    text = settings.core.fault_injection
    if not text:
        return
    if settings.is_production:
        raise SettingsError("GATEWAY_FAULT_INJECTION: never allowed when GATEWAY_ENV=production")
    try:
        FaultPoints.parse(text)
    except ValueError as error:
        raise SettingsError(f"GATEWAY_FAULT_INJECTION: {error} (got {text!r})") from None


def _check_console(settings: Settings) -> None:
    """A console in production signs its sessions with a key given to it, never
    one made up (each process would make its own)."""
    secret = settings.console.secret
    if secret is not None and (problem := console_secret_problem(secret)):
        raise SettingsError(f"GATEWAY_CONSOLE_SECRET: {problem}")
    if settings.is_production and settings.console_enabled and not secret:
        raise SettingsError(
            "GATEWAY_CONSOLE_SECRET: required when GATEWAY_ENV=production and the console"
            " is enabled (GATEWAY_CONSOLE_ENABLED)"
        )


def _check_production(settings: Settings) -> None:
    """Production never runs on development conveniences (API.md "Running")."""
    if not settings.is_production:
        return
    required = {
        "DATABASE_URL": settings.database.url,
        "REDIS_URL": settings.redis.url,
        "GATEWAY_ENCRYPTION_KEYS": settings.secrets.encryption_keys,
        "GATEWAY_FINGERPRINT_KEY": settings.secrets.fingerprint_key,
        "GATEWAY_BLIND_INDEX_KEY": settings.secrets.blind_index_key,
        "GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS": settings.processor.authorize_net_signature_keys,
        "GATEWAY_DASHBOARD_PASSWORD": settings.dashboard.password,
        "GATEWAY_METRICS_TOKEN": settings.http.metrics_token,
    }
    for name, value in required.items():
        if not value:
            raise SettingsError(
                f"{name}: required when GATEWAY_ENV=production"
                " (embedded servers and generated secrets are for development only)"
            )
    _check_production_secrets(settings)
    _check_live_processor(settings)


def _check_production_secrets(settings: Settings) -> None:
    """Production refuses Redis without authentication, one key serving two
    purposes, guessable signature keys and short dashboard passwords
    (core/production_secrets.py has the rules)."""
    # Every value below was required, hence set, just before.
    assert settings.redis.url is not None
    if problem := redis_url_problem(settings.redis.url):
        raise SettingsError(f"REDIS_URL: {problem}")
    keys = {
        "GATEWAY_ENCRYPTION_KEYS": settings.secrets.encryption_keys,
        "GATEWAY_FINGERPRINT_KEY": settings.secrets.fingerprint_key,
        "GATEWAY_BLIND_INDEX_KEY": settings.secrets.blind_index_key,
    }
    reused = reused_key({name: text for name, text in keys.items() if text})
    if reused is not None:
        first, second = reused
        raise SettingsError(f"{second}: must not be the same key as {first}")
    for key in settings.processor.authorize_net_signature_keys or ():
        if problem := signature_key_problem(key):
            raise SettingsError(f"GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS: {problem}")
    assert settings.dashboard.password is not None
    if problem := dashboard_password_problem(settings.dashboard.password):
        raise SettingsError(f"GATEWAY_DASHBOARD_PASSWORD: {problem}")


def _check_live_processor(settings: Settings) -> None:
    """Production refuses a live processor that could not move real money: a
    sandbox, a plain-HTTP URL, or no credentials."""
    processor = settings.processor
    if processor.processor != "authorize_net":
        return
    environment = processor.authorize_net_environment
    if environment != "production" and not environment.startswith("https://"):
        raise SettingsError(
            "GATEWAY_AUTHORIZE_NET_ENVIRONMENT: must be production or an https:// URL when"
            f" GATEWAY_ENV=production and GATEWAY_PROCESSOR=authorize_net (got {environment!r})"
        )
    required = {
        "GATEWAY_AUTHORIZE_NET_LOGIN_ID": processor.authorize_net_login_id,
        "GATEWAY_AUTHORIZE_NET_TRANSACTION_KEY": processor.authorize_net_transaction_key,
    }  # the signature keys are required of every production deployment above
    for name, value in required.items():
        if not value:
            raise SettingsError(
                f"{name}: required when GATEWAY_ENV=production and GATEWAY_PROCESSOR=authorize_net"
            )


def _production_overrides(settings: Settings) -> Settings:
    """In production the simulator serves test keys only and posts no webhooks:
    nothing of it may look like a processor's word on real money."""
    if not settings.is_production:
        return settings
    replace = msgspec.structs.replace
    return replace(settings, webhooks=replace(settings.webhooks, simulator_webhook_url=""))
