from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.core.crypto import generate_key
from gateway.core.devsecrets import with_development_secrets
from gateway.core.setting_types import SettingsError
from gateway.core.settings import load_settings, setting_names

# A random key, as Authorize.Net generates (production refuses guessable ones).
SIGNATURE_KEY = (
    "F16A4BEC72E3A386AAA3AA8532F8CC0F54B2A81285A46692B00D2FC3DA289C2F"
    "F748A37E893E50C2D369A239AB0B46400212BA218166B21E864BCE6D1E2BAEA7"
)
PRODUCTION_READY = {
    "GATEWAY_ENV": "production",
    "DATABASE_URL": "postgresql+asyncpg://gw@db.internal/gateway",
    "REDIS_URL": "redis://:a-redis-password@cache.internal:6379/0",
    "GATEWAY_ENCRYPTION_KEYS": "k1:" + "A" * 43 + "=",
    "GATEWAY_FINGERPRINT_KEY": "f" * 44,
    "GATEWAY_BLIND_INDEX_KEY": "b" * 44,
    "GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS": SIGNATURE_KEY,
    "GATEWAY_DASHBOARD_PASSWORD": "a long dashboard password",
    "GATEWAY_METRICS_TOKEN": "a-metrics-scrape-token",
}


def test_defaults_follow_api_md() -> None:
    settings = load_settings({})
    assert settings.core.env == "development"
    assert settings.database.url is None
    assert settings.redis.url is None
    assert settings.uses_embedded_servers
    assert (settings.http.host, settings.http.port) == ("127.0.0.1", 8000)
    assert settings.dashboard.port == 9181
    assert settings.processor.processor == "simulator"
    assert settings.processor.breaker_fail_max == 5
    assert settings.processor.breaker_reset_s == 30
    assert settings.payments.max_amount == 99_999_999
    assert settings.payments.idempotency_retention_hours == 72
    assert settings.payments.idempotency_lock_seconds == 90
    assert settings.billing.dunning_schedule_days == (1, 3, 5, 7)
    assert settings.webhooks.webhook_retry_schedule_s == (10, 60, 300, 1800, 7200)
    assert settings.payments.settlement_cutoff == "16:00 America/Los_Angeles"
    assert settings.processor.cvv_filter is True
    assert settings.processor.live_currencies == ("USD",)


def test_values_are_typed_and_lists_split_on_commas() -> None:
    settings = load_settings(
        {
            "GATEWAY_PORT": "9000",
            "GATEWAY_BREAKER_RESET_S": "0.5",
            "GATEWAY_CVV_FILTER": "false",
            "GATEWAY_DUNNING_SCHEDULE_DAYS": "2, 4",
            "GATEWAY_SIMULATOR_DECLINE_RATE": "0.25",
            "GATEWAY_LIVE_CURRENCIES": "CAD, USD",
        }
    )
    assert settings.processor.live_currencies == ("CAD", "USD")
    assert settings.http.port == 9000
    assert settings.processor.breaker_reset_s == 0.5
    assert settings.processor.cvv_filter is False
    assert settings.billing.dunning_schedule_days == (2, 4)
    assert settings.webhooks.simulator_decline_rate == 0.25


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"GATEWAY_PORT": "eighty"}, "GATEWAY_PORT: expected int"),
        ({"GATEWAY_PORT": "70000"}, "GATEWAY_PORT: expected int <= 65535"),
        ({"GATEWAY_BREAKER_FAIL_MAX": "0"}, "GATEWAY_BREAKER_FAIL_MAX: expected int >= 1"),
        ({"GATEWAY_ENV": "prod"}, "GATEWAY_ENV: expected one of development, production, test"),
        ({"GATEWAY_PROCESSOR": "stripe"}, "GATEWAY_PROCESSOR: expected one of"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL: must start with postgresql+asyncpg://"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL: must start with redis://"),
        ({"GATEWAY_DUNNING_SCHEDULE_DAYS": "1,x"}, "GATEWAY_DUNNING_SCHEDULE_DAYS: expected int"),
        ({"GATEWAY_SETTLEMENT_CUTOFF": "4pm"}, "GATEWAY_SETTLEMENT_CUTOFF: expected 'HH:MM"),
        ({"GATEWAY_SETTLEMENT_CUTOFF": "16:00 Mars/Base"}, "unknown time zone 'Mars/Base'"),
        ({"GATEWAY_SIMULATOR_DECLINE_RATE": "2"}, "GATEWAY_SIMULATOR_DECLINE_RATE: expected"),
        ({"GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS": "abc"}, "128 hexadecimal characters"),
        ({"GATEWAY_IDEMPOTENCY_RETENTION_HOURS": "1"}, "expected int >= 24"),
        ({"GATEWAY_CVV_FILTER": "perhaps"}, "GATEWAY_CVV_FILTER: expected bool"),
        ({"GATEWAY_LIVE_CURRENCIES": "USD,XYZ"}, "GATEWAY_LIVE_CURRENCIES: unsupported currency"),
        (
            {"GATEWAY_WEBHOOK_DELIVERY_TIMEOUT_S": "30", "GATEWAY_WEBHOOK_DELIVERY_LEASE_S": "30"},
            "GATEWAY_WEBHOOK_DELIVERY_LEASE_S: must be longer than",
        ),
    ],
)
def test_a_bad_value_names_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_secret_values_are_not_echoed_in_errors() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"DATABASE_URL": "mysql://user:hunter2@db/x"})
    assert "hunter2" not in str(raised.value)


def test_production_refuses_embedded_servers_and_generated_secrets() -> None:
    assert load_settings(PRODUCTION_READY).is_production
    for missing in PRODUCTION_READY.keys() - {"GATEWAY_ENV"}:
        environ = {key: value for key, value in PRODUCTION_READY.items() if key != missing}
        with pytest.raises(
            SettingsError, match=f"^{missing}: required when GATEWAY_ENV=production"
        ):
            load_settings(environ)


def test_production_secrets_are_never_generated() -> None:
    settings = load_settings(PRODUCTION_READY)
    assert with_development_secrets(settings) == settings


def test_development_secrets_persist_across_restarts(tmp_path: Path) -> None:
    environ = {"GATEWAY_DATA_DIR": str(tmp_path)}
    first = with_development_secrets(load_settings(environ))
    second = with_development_secrets(load_settings(environ))
    assert first.secrets.encryption_keys
    assert first.secrets == second.secrets
    assert (
        first.processor.authorize_net_signature_keys
        == second.processor.authorize_net_signature_keys
    )
    assert first.dashboard.password == second.dashboard.password
    secrets_file = tmp_path / "secrets.json"
    assert secrets_file.stat().st_mode & 0o777 == 0o600


def test_test_environment_secrets_are_ephemeral(tmp_path: Path) -> None:
    environ = {"GATEWAY_ENV": "test", "GATEWAY_DATA_DIR": str(tmp_path)}
    settings = with_development_secrets(load_settings(environ))
    assert settings.secrets.fingerprint_key
    assert not any(tmp_path.iterdir())


def test_the_command_line_stops_with_one_line_naming_the_variable() -> None:
    result = CliRunner().invoke(main, ["migrate"], env={"GATEWAY_PORT": "eighty"})
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines == [
        "gateway: configuration error: GATEWAY_PORT: expected int, got str (got 'eighty')"
    ]


def test_env_example_lists_every_setting() -> None:
    example = (Path(__file__).parents[2] / ".env.example").read_text()
    listed = set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert listed == setting_names()


def test_empty_values_mean_the_default() -> None:
    settings = load_settings({"GATEWAY_PORT": "", "DATABASE_URL": "", "GATEWAY_LOG_JSON": ""})
    assert settings.http.port == 8000
    assert settings.database.url is None
    assert settings.core.log_json is None


SHORT_KEY = base64.b64encode(b"only sixteen byt").decode()
GOOD_KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"GATEWAY_ENCRYPTION_KEYS": f"k1:{SHORT_KEY}"},
            "GATEWAY_ENCRYPTION_KEYS: key 'k1' must decode to exactly 32 bytes, not 16",
        ),
        (
            {"GATEWAY_ENCRYPTION_KEYS": SHORT_KEY},
            "GATEWAY_ENCRYPTION_KEYS: key 1 is not written as kid:base64key",
        ),
        (
            {"GATEWAY_ENCRYPTION_KEYS": f"k1:{GOOD_KEY},k1:{GOOD_KEY}"},
            "GATEWAY_ENCRYPTION_KEYS: key id 'k1' appears more than once",
        ),
        (
            {"GATEWAY_ENCRYPTION_KEYS": f"{GOOD_KEY}:k1"},
            "GATEWAY_ENCRYPTION_KEYS: key 1: a key id must be",
        ),
        (
            {"GATEWAY_FINGERPRINT_KEY": SHORT_KEY},
            "GATEWAY_FINGERPRINT_KEY: the key must decode to at least 32 bytes, not 16",
        ),
        (
            {"GATEWAY_BLIND_INDEX_KEY": GOOD_KEY + "!"},
            "GATEWAY_BLIND_INDEX_KEY: the key is not valid base64",
        ),
    ],
)
def test_invariant_8_a_bad_secret_key_is_one_line_without_the_key(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ)
    said = str(raised.value)
    assert said.startswith(message)
    assert "\n" not in said
    assert SHORT_KEY not in said
    assert GOOD_KEY not in said


def test_a_rotated_key_ring_is_accepted() -> None:
    old, new = "k1:" + GOOD_KEY, generate_key()
    settings = load_settings({"GATEWAY_ENCRYPTION_KEYS": f"{new},{old}"})
    assert settings.secrets.encryption_keys == f"{new},{old}"


@pytest.mark.parametrize("env", ["development", "test"])
def test_generated_development_secrets_pass_validation(env: str, tmp_path: Path) -> None:
    environ = {"GATEWAY_ENV": env, "GATEWAY_DATA_DIR": str(tmp_path)}
    secrets = with_development_secrets(load_settings(environ)).secrets
    assert secrets.encryption_keys
    assert secrets.fingerprint_key
    assert secrets.blind_index_key
    reloaded = load_settings(
        {
            "GATEWAY_ENCRYPTION_KEYS": secrets.encryption_keys,
            "GATEWAY_FINGERPRINT_KEY": secrets.fingerprint_key,
            "GATEWAY_BLIND_INDEX_KEY": secrets.blind_index_key,
        }
    )
    assert reloaded.secrets == secrets
