"""Production refuses Redis without authentication, one key reused for two
purposes, guessable signature keys and short dashboard passwords (issue 19,
point 6); each refusal names its setting and never echoes the secret."""

from __future__ import annotations

import base64
import secrets

import pytest

from gateway.core.production_secrets import signature_key_problem
from gateway.core.setting_types import SettingsError
from gateway.core.settings import load_settings


def _key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _production(**overrides: str) -> dict[str, str]:
    return {
        "GATEWAY_ENV": "production",
        "DATABASE_URL": "postgresql+asyncpg://gw@db.internal/gateway",
        "REDIS_URL": "redis://:a-redis-password@cache.internal:6379/0",
        "GATEWAY_ENCRYPTION_KEYS": f"k1:{_key()}",
        "GATEWAY_FINGERPRINT_KEY": _key(),
        "GATEWAY_BLIND_INDEX_KEY": _key(),
        "GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS": secrets.token_hex(64).upper(),
        "GATEWAY_DASHBOARD_PASSWORD": "a long dashboard password",
        "GATEWAY_METRICS_TOKEN": "a-metrics-scrape-token",
        **overrides,
    }


def _refusal(environ: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as refused:
        load_settings(environ)
    return str(refused.value)


def test_a_production_deployment_with_strong_secrets_starts() -> None:
    assert load_settings(_production()).is_production


@pytest.mark.parametrize(
    "url",
    [
        "redis://cache.internal:6379/0",
        "redis://:@cache.internal:6379/0",
        "redis://gateway@cache.internal:6379/0",  # a user name is not a password
    ],
)
def test_redis_without_a_password_is_refused(url: str) -> None:
    message = _refusal(_production(REDIS_URL=url))
    assert message.startswith("REDIS_URL: must carry a password")
    assert "rediss://" in message


@pytest.mark.parametrize(
    "url",
    [
        "redis://gateway:s3cret-password@cache.internal:6379/0",
        "redis://cache.internal:6379/0?password=s3cret-password",
        "rediss://cache.internal:6380/0",  # TLS
        "unix:///run/redis/redis.sock?db=0",  # a local socket: its file permissions
    ],
)
def test_redis_with_a_password_tls_or_a_socket_is_accepted(url: str) -> None:
    assert load_settings(_production(REDIS_URL=url)).redis.url == url


def test_outside_production_redis_needs_no_password() -> None:
    settings = load_settings({"GATEWAY_ENV": "test", "REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert settings.redis.url == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    ("shared", "first", "second"),
    [
        ("GATEWAY_FINGERPRINT_KEY", "GATEWAY_ENCRYPTION_KEYS", "GATEWAY_FINGERPRINT_KEY"),
        ("GATEWAY_BLIND_INDEX_KEY", "GATEWAY_ENCRYPTION_KEYS", "GATEWAY_BLIND_INDEX_KEY"),
    ],
)
def test_a_key_of_the_encryption_ring_reused_elsewhere_is_refused(
    shared: str, first: str, second: str
) -> None:
    key = _key()
    # The reused key is the ring's retired one: every key of the ring counts.
    environ = _production(GATEWAY_ENCRYPTION_KEYS=f"k2:{_key()},k1:{key}", **{shared: key})
    message = _refusal(environ)
    assert message == f"{second}: must not be the same key as {first}"
    assert key not in message


def test_one_key_for_fingerprints_and_blind_indexes_is_refused() -> None:
    key = _key()
    message = _refusal(_production(GATEWAY_FINGERPRINT_KEY=key, GATEWAY_BLIND_INDEX_KEY=key))
    assert message == (
        "GATEWAY_BLIND_INDEX_KEY: must not be the same key as GATEWAY_FINGERPRINT_KEY"
    )


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("0" * 128, "only 1 distinct"),
        ("AB" * 64, "only 2 distinct"),
        ("0123456789ABCDEF" * 8, "repeats a shorter pattern"),  # every digit, yet a pattern
        (secrets.token_hex(32).upper() * 2, "repeats a shorter pattern"),  # pasted twice
        ("1234567" * 18 + "12", "only 7 distinct"),
    ],
)
def test_a_guessable_signature_key_is_refused(key: str, reason: str) -> None:
    strong = secrets.token_hex(64).upper()
    # Every key of the list is checked, not only the current one.
    message = _refusal(_production(GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS=f"{strong},{key}"))
    assert message.startswith("GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS: ")
    assert reason in message
    assert key not in message


def test_random_signature_keys_are_never_refused() -> None:
    assert all(signature_key_problem(secrets.token_hex(64)) is None for _ in range(1000))


@pytest.mark.parametrize("password", ["x", "fifteen chars!!"])
def test_a_dashboard_password_under_16_characters_is_refused(password: str) -> None:
    message = _refusal(_production(GATEWAY_DASHBOARD_PASSWORD=password))
    assert message == (
        "GATEWAY_DASHBOARD_PASSWORD: must be at least 16 characters when GATEWAY_ENV=production"
    )


def test_a_16_character_dashboard_password_is_accepted() -> None:
    settings = load_settings(_production(GATEWAY_DASHBOARD_PASSWORD="sixteen chars!!!"))
    assert settings.dashboard.password == "sixteen chars!!!"
