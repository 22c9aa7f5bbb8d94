"""The saga's settings, from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

FAULT_POINTS = ("after_charge", "after_ship", "after_refund", "after_void")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    gateway_url: str
    gateway_api_key: str
    fault: str | None  # SIGKILL this process right after that step's call


def _database_url(env: Mapping[str, str]) -> str:
    url = env.get("SAGA_DATABASE_URL", "")
    if url:
        return url
    pgdata = env.get("SAGA_EMBEDDED_PGDATA", "")
    if not pgdata:
        raise SettingsError("SAGA_DATABASE_URL (or SAGA_EMBEDDED_PGDATA) is required")
    try:
        lines = (Path(pgdata) / "postmaster.pid").read_text().splitlines()
    except OSError as error:
        raise SettingsError(f"SAGA_EMBEDDED_PGDATA: no running PostgreSQL in {pgdata}") from error
    port, socket_dir = lines[3].strip(), lines[4].strip()
    return f"postgresql+asyncpg://postgres@/saga?host={quote(socket_dir)}&port={port}"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    key = env.get("SAGA_GATEWAY_API_KEY", "").strip()
    key_file = env.get("SAGA_GATEWAY_API_KEY_FILE", "")
    if not key and key_file:
        try:
            key = Path(key_file).read_text().strip()
        except OSError as error:
            raise SettingsError(f"SAGA_GATEWAY_API_KEY_FILE: cannot read {key_file}") from error
    if not key:
        raise SettingsError("SAGA_GATEWAY_API_KEY (or SAGA_GATEWAY_API_KEY_FILE) is required")
    fault = env.get("SAGA_FAULT_INJECTION") or None
    if fault is not None and fault not in FAULT_POINTS:
        raise SettingsError(f"SAGA_FAULT_INJECTION: one of {', '.join(FAULT_POINTS)}")
    return Settings(
        database_url=_database_url(env),
        gateway_url=env.get("SAGA_GATEWAY_URL", "http://127.0.0.1:8000").rstrip("/"),
        gateway_api_key=key,
        fault=fault,
    )
