"""`booking serve` as a real process against the served gateway: started, asked,
SIGKILLed and started again by the tests."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from tests.examples.served import BIN, REPOSITORY, ServedGateway

BOOKING = str(BIN / "booking")


@dataclass(frozen=True)
class BookingService:
    url: str
    process: subprocess.Popen[bytes]

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", json=body, timeout=30)

    def get(self, path: str) -> dict[str, Any]:
        response = httpx.get(f"{self.url}{path}", timeout=10)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def event(self, seats: int, price: int = 4500) -> str:
        created = self.post("/events", {"name": "Test show", "seats": seats, "price": price})
        assert created.status_code == 201, created.text
        return str(created.json()["id"])


def booking_environment(
    gateway: ServedGateway, database_url: str, port: int, **extra: str
) -> dict[str, str]:
    return {
        "PATH": gateway.environment.get("PATH", ""),
        "BOOKING_DATABASE_URL": database_url,
        "BOOKING_GATEWAY_URL": gateway.url,
        "BOOKING_GATEWAY_API_KEY": gateway.key,
        "BOOKING_PORT": str(port),
        # Short loops, so recovery and expiry are seen in a second, not minutes.
        "BOOKING_SWEEP_INTERVAL_S": "0.3",
        "BOOKING_RECOVERY_GRACE_S": "1",
        **extra,
    }


@contextmanager
def booking_service(environment: dict[str, str]) -> Iterator[BookingService]:
    process = subprocess.Popen(  # noqa: S603 - the example's own command line
        [BOOKING, "serve"], cwd=REPOSITORY, env=environment
    )
    url = f"http://127.0.0.1:{environment['BOOKING_PORT']}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "booking serve exited"
            assert time.monotonic() < deadline, "booking serve never answered"
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield BookingService(url, process)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
