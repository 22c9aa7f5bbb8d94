"""The service's settings, all from the environment (read once at start-up)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

FAULT_POINTS = ("after_authorize", "after_capture")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    gateway_url: str  # the gateway's base URL, without /api/v1
    gateway_api_key: str
    host: str
    port: int
    public_url: str  # where the gateway reaches this service, for its webhooks
    hold_seconds: float  # how long seats are held for an unpaid booking
    sweep_interval_s: float  # the expiry and recovery loop's period
    recovery_grace_s: float  # a booking untouched this long is driven by the sweep
    webhooks: bool  # register an endpoint and listen for the gateway's webhooks
    fault: str | None  # a crash point, for the SIGKILL demonstrations and tests


def _number(environ: Mapping[str, str], name: str, default: str) -> float:
    raw = environ.get(name, default)
    try:
        value = float(raw)
    except ValueError as error:
        raise SettingsError(f"{name}: {raw!r} is not a number") from error
    if value < 0:
        raise SettingsError(f"{name}: must not be negative")
    return value


def embedded_database_url(pgdata: Path, database: str = "booking") -> str:
    """A URL to `database` on the gateway's embedded PostgreSQL (`make run`), read
    from its postmaster.pid: the socket folder and port of the running server."""
    pid_file = pgdata / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
    except OSError as error:
        raise SettingsError(
            f"BOOKING_EMBEDDED_PGDATA: no running PostgreSQL in {pgdata} (start `make run`)"
        ) from error
    port, socket_dir = lines[3].strip(), lines[4].strip()
    return f"postgresql+asyncpg://postgres@/{database}?host={quote(socket_dir)}&port={port}"


def _api_key(environ: Mapping[str, str]) -> str:
    key = environ.get("BOOKING_GATEWAY_API_KEY", "").strip()
    if key:
        return key
    key_file = environ.get("BOOKING_GATEWAY_API_KEY_FILE", "")
    if key_file:
        try:
            return Path(key_file).read_text().strip()
        except OSError as error:
            raise SettingsError(f"BOOKING_GATEWAY_API_KEY_FILE: cannot read {key_file}") from error
    raise SettingsError("BOOKING_GATEWAY_API_KEY (or BOOKING_GATEWAY_API_KEY_FILE) is required")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    database_url = env.get("BOOKING_DATABASE_URL", "")
    if not database_url:
        pgdata = env.get("BOOKING_EMBEDDED_PGDATA", "")
        if not pgdata:
            raise SettingsError("BOOKING_DATABASE_URL (or BOOKING_EMBEDDED_PGDATA) is required")
        database_url = embedded_database_url(Path(pgdata))
    fault = env.get("BOOKING_FAULT_INJECTION") or None
    if fault is not None and fault not in FAULT_POINTS:
        raise SettingsError(f"BOOKING_FAULT_INJECTION: one of {', '.join(FAULT_POINTS)}")
    host = env.get("BOOKING_HOST", "127.0.0.1")
    port = int(_number(env, "BOOKING_PORT", "8100"))
    return Settings(
        database_url=database_url,
        gateway_url=env.get("BOOKING_GATEWAY_URL", "http://127.0.0.1:8000").rstrip("/"),
        gateway_api_key=_api_key(env),
        host=host,
        port=port,
        public_url=env.get("BOOKING_PUBLIC_URL", f"http://{host}:{port}").rstrip("/"),
        hold_seconds=_number(env, "BOOKING_HOLD_SECONDS", "600"),
        sweep_interval_s=_number(env, "BOOKING_SWEEP_INTERVAL_S", "5"),
        recovery_grace_s=_number(env, "BOOKING_RECOVERY_GRACE_S", "30"),
        webhooks=env.get("BOOKING_WEBHOOKS", "true").lower() in ("1", "true", "yes"),
        fault=fault,
    )
