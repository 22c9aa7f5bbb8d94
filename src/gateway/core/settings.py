"""Typed settings read once from the environment (API.md "Running").

Each group is a frozen msgspec Struct whose fields are renamed to the environment
variable they come from, so a conversion error names the variable itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import msgspec.inspect

from gateway.core.console_settings import ConsoleSettings
from gateway.core.crypto import BlindIndex, Fingerprinter, KeyRing
from gateway.core.processor_settings import ProcessorSettings
from gateway.core.rate_limit_settings import RateLimitSettings
from gateway.core.sandbox_settings import SandboxSettings
from gateway.core.setting_types import (
    NonNegativeInt,
    Port,
    PositiveFloat,
    PositiveInt,
    SettingsError,
    prefixed,
)
from gateway.core.settings_checks import checked
from gateway.core.webhook_settings import WebhookSettings

Environment = Literal["development", "test", "production"]


DEFAULT_DATA_DIR = ".gateway-data"
# The path of Authorize.Net's one endpoint, which an environment given as a URL names.


class CoreSettings(msgspec.Struct, frozen=True, rename=prefixed("GATEWAY_")):
    env: Environment = "development"
    data_dir: str = DEFAULT_DATA_DIR
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # None: decided by whether stderr is a terminal (readable) or not (JSON).
    log_json: bool | None = None
    # Chaos testing only (core/faults.py); refused in production.
    fault_injection: str = ""


class DatabaseSettings(msgspec.Struct, frozen=True, rename=prefixed("GATEWAY_DATABASE_")):
    # None: the embedded PostgreSQL under the data folder.
    url: str | None = msgspec.field(default=None, name="DATABASE_URL")
    pool_size: PositiveInt = 10
    max_overflow: NonNegativeInt = 10
    connect_timeout_s: PositiveFloat = 5.0
    statement_timeout_ms: NonNegativeInt = 30_000

    def __post_init__(self) -> None:
        if self.url is not None and not self.url.startswith("postgresql+asyncpg://"):
            raise ValueError("must start with postgresql+asyncpg:// - at `$.DATABASE_URL`")


class RedisSettings(msgspec.Struct, frozen=True, rename=prefixed("GATEWAY_REDIS_")):
    # None: the embedded Redis under the data folder.
    url: str | None = msgspec.field(default=None, name="REDIS_URL")
    socket_timeout_s: PositiveFloat = 2.0

    def __post_init__(self) -> None:
        if self.url is not None and not re.match(r"^(rediss?|unix)://", self.url):
            raise ValueError("must start with redis://, rediss:// or unix:// - at `$.REDIS_URL`")


class HttpSettings(msgspec.Struct, frozen=True, rename=prefixed("GATEWAY_")):
    host: str = "127.0.0.1"
    port: Port = 8000
    metrics_token: str = ""
    max_body_bytes: PositiveInt = 64 * 1024
    health_timeout_s: PositiveFloat = 1.0
    # None: the number of CPUs in production, 1 otherwise (`api_workers()`).
    api_workers: PositiveInt | None = None
    # The edge (cli/api_server.py): a client that has not sent a whole request
    # head within this time, or sends nothing on a kept-alive connection, is cut off.
    http_header_read_timeout_s: Annotated[float, msgspec.Meta(ge=0.001, le=60)] = 10.0
    # The request line and headers together (431 above); the server's floor is 8 KiB.
    http_max_header_bytes: Annotated[int, msgspec.Meta(ge=8192)] = 16 * 1024
    # Open connections each API worker serves at once; more wait in the backlog.
    http_max_connections: PositiveInt = 512

    def api_workers_for(self, environment: Environment) -> int:
        if self.api_workers is not None:
            return self.api_workers
        return (os.cpu_count() or 1) if environment == "production" else 1


class DashboardSettings(msgspec.Struct, frozen=True, rename=prefixed("GATEWAY_DASHBOARD_")):
    port: Port = 9181
    user: str = "admin"
    # None: generated and persisted under the data folder (development only).
    password: str | None = None
    # Failed logins from one client address per minute; then 429 until the window passes.
    failed_logins_per_min: PositiveInt = 10


class SecretSettings(msgspec.Struct, frozen=True, rename=prefixed("GATEWAY_")):
    # None: generated and persisted under the data folder (never in production).
    encryption_keys: str | None = None
    fingerprint_key: str | None = None
    blind_index_key: str | None = None

    def __post_init__(self) -> None:
        checks: list[tuple[str, str | None, Callable[[str], object]]] = [
            ("GATEWAY_ENCRYPTION_KEYS", self.encryption_keys, KeyRing.parse),
            ("GATEWAY_FINGERPRINT_KEY", self.fingerprint_key, Fingerprinter.from_setting),
            ("GATEWAY_BLIND_INDEX_KEY", self.blind_index_key, BlindIndex.from_setting),
        ]
        for name, value, parse in checks:
            if value is None:
                continue
            try:
                parse(value)
            except ValueError as error:
                raise ValueError(f"{error} - at `$.{name}`") from None


class PaymentSettings(msgspec.Struct, frozen=True, rename=prefixed("GATEWAY_")):
    max_amount: PositiveInt = 99_999_999
    # Floats so that a chaos run can let authorizations expire (and orphans be
    # compensated) within seconds; production values are whole days and minutes.
    auth_expiry_days: PositiveFloat = 30.0
    idempotency_retention_hours: Annotated[int, msgspec.Meta(ge=24)] = 72
    idempotency_lock_seconds: PositiveInt = 90
    orphan_policy: Literal["record", "void"] = "record"
    orphan_after_minutes: PositiveFloat = 60.0
    refund_window_days: PositiveInt = 120
    reconcile_not_found_after_minutes: PositiveFloat = 30.0
    settlement_cutoff: str = "16:00 America/Los_Angeles"

    def __post_init__(self) -> None:
        parse_cutoff(self.settlement_cutoff)


class BillingSettings(msgspec.Struct, frozen=True, rename=prefixed("GATEWAY_")):
    dunning_schedule_days: tuple[PositiveInt, ...] = (1, 3, 5, 7)
    dunning_final_action: Literal["cancel", "pause"] = "cancel"


class Settings(msgspec.Struct, frozen=True):
    core: CoreSettings
    database: DatabaseSettings
    redis: RedisSettings
    http: HttpSettings
    dashboard: DashboardSettings
    secrets: SecretSettings
    processor: ProcessorSettings
    payments: PaymentSettings
    billing: BillingSettings
    webhooks: WebhookSettings
    sandbox: SandboxSettings = msgspec.field(default_factory=SandboxSettings)
    rate_limits: RateLimitSettings = msgspec.field(default_factory=RateLimitSettings)
    console: ConsoleSettings = msgspec.field(default_factory=ConsoleSettings)

    @property
    def data_dir(self) -> Path:
        return Path(self.core.data_dir).resolve()

    @property
    def is_production(self) -> bool:
        return self.core.env == "production"

    @property
    def console_enabled(self) -> bool:
        return self.console.is_enabled(production=self.is_production)

    @property
    def uses_embedded_servers(self) -> bool:
        return self.database.url is None or self.redis.url is None


_GroupT = TypeVar("_GroupT", bound=msgspec.Struct)

# Settings whose value is a comma-separated list in the environment.
_LIST_VARIABLES = frozenset(
    {
        "GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS",
        "GATEWAY_DUNNING_SCHEDULE_DAYS",
        "GATEWAY_LIVE_CURRENCIES",
        "GATEWAY_TRUSTED_PROXIES",
        "GATEWAY_WEBHOOK_RETRY_SCHEDULE_S",
    }
)

# Settings where an empty value means something other than the default.
_EMPTY_IS_A_VALUE = frozenset({"GATEWAY_SIMULATOR_WEBHOOK_URL", "GATEWAY_SANDBOX_WEBHOOK_URL"})

_ERROR_PATH = re.compile(r"^(?P<what>.*?)(?: - at `\$\.(?P<name>[A-Z0-9_]+)[^`]*`)?$", re.S)


def _environment_values(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, raw in environ.items():
        if not (name.startswith("GATEWAY_") or name in ("DATABASE_URL", "REDIS_URL")):
            continue
        value = raw.strip()
        if value == "" and name not in _EMPTY_IS_A_VALUE:
            continue  # empty means "not set": the default applies
        if name in _LIST_VARIABLES:
            values[name] = [item.strip() for item in value.split(",") if item.strip()]
        else:
            values[name] = value
    return values


def _load_group(group: type[_GroupT], values: Mapping[str, Any]) -> _GroupT:
    try:
        return msgspec.convert(values, group, strict=False)
    except msgspec.ValidationError as exc:
        match = _ERROR_PATH.match(str(exc))
        assert match is not None  # the pattern accepts any text
        name = match.group("name")
        what = match.group("what").strip()
        if name is None:
            raise SettingsError(f"invalid settings: {what}") from None
        shown = values.get(name)
        shown_text = ",".join(shown) if isinstance(shown, list) else shown
        what = _humane(what, _choices(group, name))
        if _is_secret(name) or shown_text is None:
            raise SettingsError(f"{name}: {what}") from None
        raise SettingsError(f"{name}: {what} (got {shown_text!r})") from None


def _choices(group: type[msgspec.Struct], name: str) -> tuple[Any, ...]:
    info = msgspec.inspect.type_info(group)
    assert isinstance(info, msgspec.inspect.StructType)
    for field in info.fields:
        if field.encode_name == name and isinstance(field.type, msgspec.inspect.LiteralType):
            return field.type.values
    return ()


def _humane(message: str, choices: tuple[Any, ...]) -> str:
    if choices and message.startswith("Invalid enum value"):
        return "expected one of " + ", ".join(str(choice) for choice in choices)
    return message.replace("`", "").replace("Expected", "expected")


def _is_secret(name: str) -> bool:
    return any(word in name for word in ("KEY", "PASSWORD", "TOKEN", "URL"))


def setting_names() -> set[str]:
    """Every environment variable the settings read."""
    names: set[str] = set()
    for group in msgspec.structs.fields(Settings):
        info = msgspec.inspect.type_info(group.type)
        assert isinstance(info, msgspec.inspect.StructType)
        names.update(field.encode_name for field in info.fields)
    return names


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; raise SettingsError naming the first bad one."""
    values = _environment_values(os.environ if environ is None else environ)
    settings = Settings(
        core=_load_group(CoreSettings, values),
        database=_load_group(DatabaseSettings, values),
        redis=_load_group(RedisSettings, values),
        http=_load_group(HttpSettings, values),
        dashboard=_load_group(DashboardSettings, values),
        secrets=_load_group(SecretSettings, values),
        processor=_load_group(ProcessorSettings, values),
        payments=_load_group(PaymentSettings, values),
        billing=_load_group(BillingSettings, values),
        webhooks=_load_group(WebhookSettings, values),
        sandbox=_load_group(SandboxSettings, values),
        rate_limits=_load_group(RateLimitSettings, values),
        console=_load_group(ConsoleSettings, values),
    )
    return checked(settings)


def parse_cutoff(text: str) -> tuple[time, ZoneInfo]:
    """Parse "HH:MM Area/City" into a local time and its zone."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})\s+(\S+)", text.strip())
    if match is None:
        raise ValueError("expected 'HH:MM Area/City' - at `$.GATEWAY_SETTLEMENT_CUTOFF`")
    hour, minute, zone = int(match.group(1)), int(match.group(2)), match.group(3)
    if hour > 23 or minute > 59:
        raise ValueError("hour or minute out of range - at `$.GATEWAY_SETTLEMENT_CUTOFF`")
    try:
        return time(hour, minute), ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r} - at `$.GATEWAY_SETTLEMENT_CUTOFF`") from None
