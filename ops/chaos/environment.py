"""The settings a chaos run gives the gateway's processes: its own servers and
secrets, fault injection, and every interval shortened to fit within a run."""

from __future__ import annotations

import os
from pathlib import Path

from gateway.core.crypto import generate_key
from gateway.core.faults import FaultPoint
from ops.chaos.servers import ChaosDatabase

# Intervals the run shortens (DESIGN.md: tests never wait on production timings).
LOCK_SECONDS = 5
NOT_FOUND_AFTER_MINUTES = 0.1
# An authorization never captured expires, and a charge whose client walked away
# is compensated, within the run (production: 30 days, 60 minutes).
AUTH_EXPIRY_S = 20.0
_SIMULATOR_HOLDS = 15  # times as long as the gateway: 5 minutes, past any short run
ORPHAN_AFTER_MINUTES = 0.1
SWEEP_EVERY_S = 2.0
SETTLE_EVERY_S = 8.0


def fault_spec(rate: float) -> str:
    # Half the rate before the call: most kills land where money may have moved.
    rates = {
        FaultPoint.AFTER_RESERVE: rate / 2,
        FaultPoint.AFTER_PROCESSOR_CALL: rate,
        FaultPoint.BEFORE_FINAL_COMMIT: rate,
    }
    return ",".join(f"{point.value}={value}" for point, value in rates.items())


def environment(
    *, fault_rate: float, database: ChaosDatabase, redis_url: str, run_dir: Path, api_port: int
) -> dict[str, str]:
    """What every process of the run gets: its servers, fresh secrets, the fault
    rate, and the intervals shortened above."""
    metrics_dir = run_dir / "prometheus"
    metrics_dir.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "DATABASE_URL": database.url,
        "REDIS_URL": redis_url,
        "GATEWAY_ENV": "test",
        # Far above what the run sends: it measures the gateway, not its limits.
        "GATEWAY_RATE_LIMIT_LIVE_PER_S": "1000000",
        "GATEWAY_RATE_LIMIT_TEST_PER_S": "1000000",
        "GATEWAY_RATE_LIMIT_FAILED_AUTH_PER_MIN": "1000000",
        "GATEWAY_RATE_LIMIT_WEBHOOK_INVALID_PER_MIN": "1000000",
        "GATEWAY_DATA_DIR": str(run_dir),
        "GATEWAY_LOG_JSON": "true",
        "GATEWAY_ENCRYPTION_KEYS": generate_key(),
        "GATEWAY_FINGERPRINT_KEY": os.urandom(32).hex(),
        "GATEWAY_BLIND_INDEX_KEY": os.urandom(32).hex(),
        # Shared by the simulator (or the sandbox) that signs and the API that verifies.
        "GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS": os.urandom(64).hex().upper(),
        "GATEWAY_FAULT_INJECTION": fault_spec(fault_rate),
        "GATEWAY_IDEMPOTENCY_LOCK_SECONDS": str(LOCK_SECONDS),
        "GATEWAY_AUTH_EXPIRY_DAYS": str(AUTH_EXPIRY_S / 86_400),
        # The simulator (the sandbox's too) holds them longer, so the sweep's voids
        # release real holds even when the workers get to them late (their
        # `maintenance` queue comes last).
        "GATEWAY_SIMULATOR_AUTH_EXPIRY_DAYS": str(_SIMULATOR_HOLDS * AUTH_EXPIRY_S / 86_400),
        "GATEWAY_ORPHAN_POLICY": "void",
        "GATEWAY_ORPHAN_AFTER_MINUTES": str(ORPHAN_AFTER_MINUTES),
        "GATEWAY_RECONCILE_NOT_FOUND_AFTER_MINUTES": str(NOT_FOUND_AFTER_MINUTES),
        "GATEWAY_BREAKER_RESET_S": "1",
        # Long enough to outlast a key locked by a killed request (LOCK_SECONDS) and
        # the reconciliation that follows; short enough to finish within the run.
        "GATEWAY_WEBHOOK_RETRY_SCHEDULE_S": "1,2,4,8,16,32",
        "GATEWAY_PROCESSOR_RETRY_DEADLINE_S": "0.5",
        # The simulator's signed webhooks come back to the API under test, so their
        # processing races the requests and reconciliation, as in production.
        "GATEWAY_PORT": str(api_port),
        "GATEWAY_SIMULATOR_WEBHOOK_URL": f"http://127.0.0.1:{api_port}/api/v1/webhooks/simulator",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
