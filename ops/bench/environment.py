"""The settings every benchmark gives the gateway's processes: its own database
and Redis, fresh secrets, quiet logs, and rate limits far above what it sends
(a benchmark measures the gateway, not its limits)."""

from __future__ import annotations

import os
from pathlib import Path

from gateway.core.crypto import generate_key

UNLIMITED = "1000000"


def bench_environment(
    database_url: str, redis_url: str, run_dir: Path, **extra: str
) -> dict[str, str]:
    """The environment of a benchmark's gateway processes; `extra` on top."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "GATEWAY_ENV": "test",
        "GATEWAY_RATE_LIMIT_LIVE_PER_S": UNLIMITED,
        "GATEWAY_RATE_LIMIT_TEST_PER_S": UNLIMITED,
        "GATEWAY_RATE_LIMIT_FAILED_AUTH_PER_MIN": UNLIMITED,
        "GATEWAY_RATE_LIMIT_WEBHOOK_INVALID_PER_MIN": UNLIMITED,
        "GATEWAY_DATA_DIR": str(run_dir),
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_LOG_JSON": "true",
        "GATEWAY_ENCRYPTION_KEYS": generate_key(),
        "GATEWAY_FINGERPRINT_KEY": os.urandom(32).hex(),
        "GATEWAY_BLIND_INDEX_KEY": os.urandom(32).hex(),
        "GATEWAY_CONSOLE_SECRET": os.urandom(32).hex(),
        "GATEWAY_SIMULATOR_WEBHOOK_URL": "",
        **extra,
    }
