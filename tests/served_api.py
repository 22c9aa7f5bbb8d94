"""`gateway serve` on a free local port, for tests that need a real HTTP server
(schemathesis, a generated client)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support import closed_port

GATEWAY = str(Path(sys.executable).with_name("gateway"))
REPOSITORY = Path(__file__).resolve().parents[1]

# High enough that a property-based run is never limited (issue 19's rate limits).
UNLIMITED = {
    "GATEWAY_RATE_LIMIT_LIVE_PER_S": "100000",
    "GATEWAY_RATE_LIMIT_TEST_PER_S": "100000",
    "GATEWAY_RATE_LIMIT_FAILED_AUTH_PER_MIN": "100000",
    "GATEWAY_RATE_LIMIT_WEBHOOK_INVALID_PER_MIN": "100000",
}


@contextmanager
def served_process(
    environment: Mapping[str, str | None],
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`gateway serve` with `environment` added (None removes a variable): its base
    URL and its process, once it answers."""
    port = closed_port()
    merged: dict[str, str | None] = {
        **os.environ,
        **UNLIMITED,
        "GATEWAY_PORT": str(port),
        "GATEWAY_LOG_LEVEL": "WARNING",
        **environment,
    }
    env = {name: value for name, value in merged.items() if value is not None}
    api = subprocess.Popen(  # noqa: S603 - our own command line
        [GATEWAY, "serve"], cwd=REPOSITORY, env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert api.poll() is None, "gateway serve exited"
            assert time.monotonic() < deadline, "gateway serve never answered"
            try:
                if httpx.get(f"{url}/api/v1/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url, api
    finally:
        api.terminate()  # granian stops its workers on SIGTERM
        api.wait(timeout=30)


@contextmanager
def serving(environment: Mapping[str, str]) -> Iterator[str]:
    """The API's base URL while `gateway serve` runs with `environment` added."""
    with served_process(environment) as (url, _):
        yield url
